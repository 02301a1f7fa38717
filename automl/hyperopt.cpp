// kiln hyperopt: the coordinator. Loads the study (automl/study.h), preprocesses once for every
// trial, opens the trial store, then runs the scheduler loop below over a pool of worker
// processes (automl/worker_pool.h, protocol in automl/trial_protocol.h), re-ranks the best trials
// (automl/rerank.h) and writes the outputs (automl/hyperopt_outputs.h).
#include "automl/hyperopt.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "automl/hyperopt_outputs.h"
#include "automl/hyperopt_report.h"
#include "automl/rerank.h"
#include "automl/samplers.h"
#include "automl/study.h"
#include "automl/trial_protocol.h"
#include "automl/trial_store.h"
#include "automl/worker_pool.h"
#include "config/config.h"
#include "config/yaml_io.h"
#include "pipelines/model_store.h"
#include "pipelines/pipelines.h"
#include "pipelines/preprocess.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/clock.h"
#include "util/strings.h"

namespace kiln {
namespace {

std::string self_exe() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw ModelError("cannot find this program's path (/proc/self/exe) to start trial workers");
  return std::string(buf, static_cast<size_t>(n));
}

// The error a failed trial left in its train.log (its last "error: " line, else its last line).
std::string last_error_line(const std::string& log_path) {
  std::string text;
  try {
    text = read_file(log_path);
  } catch (const DataError&) {
    return "no log";
  }
  std::istringstream in(text);
  std::string line, last, err;
  while (std::getline(in, line)) {
    size_t cr = line.rfind('\r');
    if (cr != std::string::npos) line = line.substr(cr + 1);
    if (trim(line).empty()) continue;
    last = line;
    if (line.rfind("error: ", 0) == 0) err = line.substr(7);
  }
  return err.empty() ? last : err;
}

// ---------------------------------------------------------------------------------------------
// Before the search: the shared preprocessing and the store

// What the coordinator knows of the data before any trial runs.
struct SharedData {
  std::string cache_dir;           // "" without the shared cache
  uint64_t dataset_hash = 0;
  int64_t validation_rows = -1, test_rows = -1;  // -1: not known here (no shared preprocessing)
  double prepare_s = -1;           // reading + preprocessing from the CSV, when measured here
};

// Preprocesses once, before the study is recorded (a failure here leaves no study behind): every
// trial whose preprocessing matches the base config reads the cache.
SharedData prepare_shared(const HyperoptOptions& o, const Study& s, int threads) {
  SharedData d;
  if (!o.use_cache) {
    try {
      const std::string bytes = read_file(o.dataset);
      d.dataset_hash = hash_bytes(bytes.data(), bytes.size());
    } catch (const DataError&) {
      // the workers report the unreadable file
    }
    return d;
  }
  d.cache_dir = path_join(o.output_directory, "cache");
  Config base = parse_config(emit_yaml(s.base), s.file);
  PrepareOptions po;
  po.threads = threads;
  po.quiet = true;
  po.cache_dir = d.cache_dir;
  Prepared p = prepare_training_data(base, o.dataset, po);
  if (p.data.validation.size(0) == 0)
    throw DataError(o.dataset + ": the validation split is empty; hyperopt compares trials on it "
                    "(add validation rows, or set preprocessing.split)");
  d.dataset_hash = p.dataset_hash;
  d.validation_rows = p.data.validation.size(0);
  d.test_rows = p.data.test.size(0);
  if (!p.from_cache) d.prepare_s = p.seconds;
  if (!o.quiet)
    std::fprintf(stderr, "kiln: preprocessed %lld rows once in %.2fs%s (shared by the trials)\n", (long long)p.rows,
                 p.seconds, p.from_cache ? " (cache)" : "");
  return d;
}

// Opens the study's store, creating it for a new study. A resumed study must be the same study:
// same base config, space, search settings and dataset.
std::unique_ptr<TrialStore> open_store(const HyperoptOptions& o, const Study& s, const std::string& store_path,
                                       bool existed, uint64_t dataset_hash) {
  const std::string space_text = yaml_to_string(
      YAML::Load(o.config_text.empty() ? read_file(o.config_path) : o.config_text)["hyperopt"]["parameters"]);
  const std::string base_text = emit_yaml(s.base);
  const std::string study_text = s.h.goal + " " + s.h.metric + " " + s.h.output_feature + " " + s.h.search_alg + " " +
                                 std::to_string(s.h.random_state) + " " + s.h.scheduler;
  const std::string config_key = hex64(hash_bytes(base_text.data(), base_text.size())) + ":" +
                                 hex64(hash_bytes(space_text.data(), space_text.size())) + ":" +
                                 hex64(hash_bytes(study_text.data(), study_text.size())) + ":" + hex64(dataset_hash);
  if (!existed) {
    // The store appears complete or not at all: a study killed while it was being recorded left
    // only a temporary file (removed by the next run), never a store without its key.
    remove_stale_temporaries(o.output_directory);
    write_atomic_with(store_path, [&](const std::string& tmp) {
      TrialStore fresh(tmp);
      fresh.put("config_key", config_key);
      fresh.put("config_file", s.file);
    });
  }
  auto store = std::make_unique<TrialStore>(store_path);
  if (existed && store->get("config_key") != config_key)
    throw ModelError(store_path + ": the config, its search space, the search settings or the dataset changed "
                     "since this study started; resume needs the same ones (or choose another --output_directory)");
  return store;
}

// ---------------------------------------------------------------------------------------------
// The search

// Why the coordinator stopped a trial before its end.
enum class StopReason { none, pruned, budget, trial_time_limit, max_t };

const char* to_string(StopReason r) {
  switch (r) {
    case StopReason::none: return "";
    case StopReason::pruned: return "pruned";
    case StopReason::budget: return "budget";
    case StopReason::trial_time_limit: return "trial_time_limit";
    case StopReason::max_t: return "max_t";
  }
  return "";
}

// search: trials are launched; rerank_wait: the search ended, the running trials are stopping
// before the re-ranking's candidates are chosen; rerank: the candidates' folds run; stopping:
// the budget ended, every worker is being stopped.
enum class Phase { search, rerank_wait, rerank, stopping };

// What a worker runs: a trial, or (cv_fold >= 0) one fold of a re-ranking candidate.
struct Running {
  TrialRecord rec;
  int64_t start_ms = 0;
  StopReason stop = StopReason::none;
  bool interrupted = false;
  int64_t kill_at_ms = 0;  // SIGKILL a worker that ignores SIGTERM
  std::string dir;
  int cv_fold = -1;
};
using Pool = WorkerPool<Running>;

class Coordinator {
 public:
  Coordinator(const HyperoptOptions& o, const Study& s, TrialStore& store, const SharedData& d, int total_threads,
              int64_t t0, bool resumed);
  void run();  // until every trial ran (and the re-ranking ended) or the budget ended

  // Results, once run() returned.
  const std::vector<TrialRecord>& trials() const { return trials_; }
  RerankResult& rerank() { return rr_; }
  bool rerank_on() const { return rerank_on_; }
  const TrialRecord* best() const;
  const TrialRecord& record(int64_t id) { return record_of(id); }
  int workers() const { return workers_; }
  int threads_per_trial() const { return threads_per_trial_; }
  int64_t launched() const { return launched_; }
  double study_clock() const { return elapsed_before_ + (now_ms() - t0_) / 1000.0; }
  const std::string& trials_dir() const { return trials_dir_; }

 private:
  void update_end();
  void observe(const TrialRecord& r);
  TrialRecord& record_of(int64_t id);
  void launch(TrialRecord r, bool resume_trial);
  void launch_fold(int64_t id, int fold);
  void stop(Pool::Slot& w, StopReason why, int64_t kill_at_ms);
  void finish(Running& w, bool failed, int killed_by);
  void finish_fold(Running& w, bool complete);
  void start_rerank();
  void choose_candidates(int64_t now);
  std::vector<int64_t> plan(double seconds, double* cost);
  void on_line(Pool::Slot& w, const std::string& line, bool alive);
  void on_death(Pool::Slot& w, int term_signal);
  void clear_progress() const;
  void progress() const;

  const HyperoptOptions& o_;
  const Study& s_;
  TrialStore& store_;
  const SharedData& d_;
  const int64_t t0_;
  const double budget_;
  const bool tty_;
  double elapsed_before_ = 0, slowest_eval_s_ = 0, prepare_s_;
  int64_t deadline_ms_ = 0, end_ms_ = 0;
  int workers_ = 1, threads_per_trial_ = 1;
  int64_t total_ = -1, next_id_ = 0, launched_ = 0;
  bool rerank_on_ = false;
  Phase phase_ = Phase::search;
  std::unique_ptr<Sampler> sampler_;
  std::unique_ptr<Scheduler> scheduler_;
  std::vector<Observation> observations_;
  std::vector<TrialRecord> trials_;
  std::vector<TrialRecord> queue_;                   // trials a kill interrupted, to run again
  std::vector<std::pair<int64_t, int>> cv_queue_;    // (trial, fold), best candidates first
  RerankResult rr_;
  std::string trials_dir_;
  std::unique_ptr<Pool> pool_;
};

Coordinator::Coordinator(const HyperoptOptions& o, const Study& s, TrialStore& store, const SharedData& d,
                         int total_threads, int64_t t0, bool resumed)
    : o_(o), s_(s), store_(store), d_(d), t0_(t0), budget_(s.h.time_budget_s), tty_(::isatty(2)),
      prepare_s_(d.prepare_s) {
  trials_ = store_.load();
  parse_double(store_.get("elapsed_s"), elapsed_before_);
  deadline_ms_ = t0_ + static_cast<int64_t>(std::max(0.0, budget_ - elapsed_before_) * 1000);
  if (prepare_s_ >= 0) store_.put("prepare_s", format_double(prepare_s_));
  else parse_double(store_.get("prepare_s"), prepare_s_);
  parse_double(store_.get("slowest_eval_s"), slowest_eval_s_);
  update_end();

  workers_ = o.workers > 0                     ? o.workers
             : s.h.max_concurrent_trials > 0   ? s.h.max_concurrent_trials
                                               : std::max(1, static_cast<int>(total_threads / s.h.cpu_resources_per_trial));
  total_ = s.h.total_trials();
  if (total_ > 0) workers_ = static_cast<int>(std::min<int64_t>(workers_, total_));
  threads_per_trial_ = std::max(1, total_threads / workers_);
  if (!o.quiet) {
    std::fprintf(stderr, "kiln: hyperopt %s %s.%s over %zu parameters (%s sampler, %s scheduler); %s trials, "
                         "budget %.0fs, %d concurrent x %d threads\n",
                 s.h.goal.c_str(), s.h.output_feature.c_str(), s.h.metric.c_str(), s.h.parameters.size(),
                 s.h.search_alg.c_str(), s.h.scheduler.c_str(),
                 total_ < 0 ? "unbounded" : std::to_string(total_).c_str(), budget_, workers_, threads_per_trial_);
    if (resumed)
      std::fprintf(stderr, "kiln: resuming: %zu trials on record, %.1fs of the budget used\n", trials_.size(),
                   elapsed_before_);
  }
  rerank_on_ = rerank_enabled(s.h, d.validation_rows, &rr_.skipped);
  rr_.folds = s.h.rerank_folds;

  sampler_ = make_sampler(s.h);
  scheduler_ = make_scheduler(s.h, s.h.max_t);
  // Replay the record: the scheduler's rungs, the sampler's observations, unfinished trials.
  for (auto& r : trials_) {
    next_id_ = std::max(next_id_, r.id + 1);
    for (size_t e = 0; e < r.curve.size(); ++e)
      scheduler_->on_result(r.id, static_cast<int>(e + 1), s.h.maximize() ? r.curve[e] : -r.curve[e]);
    if (r.status == TrialStatus::running) queue_.push_back(r);
    else observe(r);
  }

  trials_dir_ = path_join(o.output_directory, "trials");
  make_dirs(trials_dir_);
  std::vector<std::string> args = {self_exe(), "_trial",    "--serve", "--dataset", o.dataset,
                                   "--threads", std::to_string(threads_per_trial_)};
  if (!o.use_cache) args.push_back("--skip_cache");
  else args.insert(args.end(), {"--cache_dir", d.cache_dir});
  pool_ = std::make_unique<Pool>(std::move(args), path_join(trials_dir_, "workers.log"));
}

// The search stops early enough for the final evaluation on the test split: it reads and encodes
// the CSV again (at most what preprocessing took) and runs the best model over the test rows (the
// slowest validation pass of any trial, scaled to the test split's size).
void Coordinator::update_end() {
  const double scale = d_.validation_rows > 0 && d_.test_rows > 0
                           ? static_cast<double>(d_.test_rows) / d_.validation_rows
                           : 1.0;
  const double reserve = std::min(0.25 * budget_, 0.5 + 1.5 * (std::max(0.0, prepare_s_) + slowest_eval_s_ * scale));
  end_ms_ = deadline_ms_ - static_cast<int64_t>(reserve * 1000);
}

void Coordinator::observe(const TrialRecord& r) {
  if (r.status == TrialStatus::failed || !std::isfinite(r.metric) || r.internal.size() != s_.h.parameters.size())
    return;
  observations_.push_back({r.internal, s_.h.maximize() ? -r.metric : r.metric});
}

TrialRecord& Coordinator::record_of(int64_t id) {
  for (auto& r : trials_)
    if (r.id == id) return r;
  trials_.push_back(TrialRecord{});
  trials_.back().id = id;
  return trials_.back();
}

const TrialRecord* Coordinator::best() const {
  const TrialRecord* b = nullptr;
  for (const auto& r : trials_)
    if (r.status != TrialStatus::failed && better(s_.h, r.metric, b ? b->metric : std::nan(""))) b = &r;
  return b;
}

void Coordinator::launch(TrialRecord r, bool resume_trial) {
  Running t;
  t.dir = path_join(trials_dir_, "trial_" + std::to_string(r.id));
  make_dirs(t.dir);
  const std::string cfg = path_join(t.dir, "config.yaml");
  if (!resume_trial) {
    std::string params;
    try {
      YAML::Node c = trial_config(s_, r.internal, &params);
      r.params_json = params;
      write_file_atomic(cfg, emit_yaml(c));
    } catch (const ConfigError& e) {  // a value the checks did not sample: this trial fails, the study goes on
      r.status = TrialStatus::failed;
      r.error = e.what();
      store_.save(r);
      record_of(r.id) = r;
      return;
    }
  }
  TrialCommand cmd;
  cmd.config_path = cfg;
  cmd.output_directory = t.dir;
  cmd.resume = resume_trial && file_exists(path_join(t.dir, "model/checkpoints/latest.pt"));
  r.status = TrialStatus::running;
  r.started_s = study_clock();
  t.start_ms = now_ms();
  cmd.deadline_ms = end_ms_;
  if (s_.h.trial_time_limit_s > 0)
    cmd.deadline_ms = std::min(cmd.deadline_ms, t.start_ms + static_cast<int64_t>(s_.h.trial_time_limit_s * 1000));
  t.rec = r;
  pool_->start(format_command(cmd), std::move(t));
  store_.save(r);
  record_of(r.id) = r;
  ++launched_;
}

void Coordinator::launch_fold(int64_t id, int fold) {
  const TrialRecord& r = record_of(id);
  Running t;
  t.cv_fold = fold;
  t.rec.id = id;
  const std::string trial_dir = path_join(trials_dir_, "trial_" + std::to_string(id));
  t.dir = path_join(trial_dir, "cv_" + std::to_string(fold));
  make_dirs(t.dir);
  const std::string cfg = path_join(trial_dir, "cv_config.yaml");
  if (!file_exists(cfg)) {
    YAML::Node c = YAML::Load(read_file(path_join(trial_dir, "config.yaml")));
    set_config_path(c, "trainer.epochs", YAML::Node(std::max(1, r.epochs)));
    write_file_atomic(cfg, emit_yaml(c));
  }
  t.start_ms = now_ms();
  TrialCommand cmd;
  cmd.config_path = cfg;
  cmd.output_directory = t.dir;
  cmd.deadline_ms = end_ms_;
  cmd.cv_folds = rr_.folds;
  cmd.cv_fold = fold;
  cmd.cv_seed = static_cast<uint64_t>(s_.h.random_state);
  pool_->start(format_command(cmd), std::move(t));
}

// Asks a worker to stop its trial at the next batch (it keeps its best epoch); the first reason
// given is the one recorded. A worker still running at kill_at_ms is killed.
void Coordinator::stop(Pool::Slot& w, StopReason why, int64_t kill_at_ms) {
  if (w.job->stop == StopReason::none) w.job->stop = why;
  w.process->signal(SIGTERM);
  w.job->kill_at_ms = kill_at_ms;
}

// A trial is over: its worker reported "end" (ok), "failed" (an error, in train.log), or died
// (killed_by: the signal).
void Coordinator::finish(Running& w, bool failed, int killed_by) {
  TrialRecord& r = w.rec;
  r.seconds += (now_ms() - w.start_ms) / 1000.0;
  // the best epoch by the metric reported so far
  r.metric = std::nan("");
  r.best_epoch = 0;
  for (size_t e = 0; e < r.curve.size(); ++e)
    if (better(s_.h, r.curve[e], r.metric)) r.metric = r.curve[e], r.best_epoch = static_cast<int>(e + 1);
  r.epochs = static_cast<int>(r.curve.size());
  r.error.clear();
  switch (w.stop) {
    case StopReason::pruned: r.status = TrialStatus::pruned; break;
    case StopReason::max_t: r.status = TrialStatus::completed; break;
    case StopReason::budget:
    case StopReason::trial_time_limit: r.status = TrialStatus::stopped, r.error = to_string(w.stop); break;
    case StopReason::none:
      if (killed_by) {
        r.status = TrialStatus::failed, r.error = "killed by signal " + std::to_string(killed_by);
      } else if (failed) {
        r.status = TrialStatus::failed, r.error = last_error_line(path_join(w.dir, "train.log"));
      } else if (w.interrupted) {
        const bool over_trial_limit =
            s_.h.trial_time_limit_s > 0 &&
            now_ms() - w.start_ms >= static_cast<int64_t>(s_.h.trial_time_limit_s * 1000) - 100;
        r.status = TrialStatus::stopped, r.error = over_trial_limit ? "trial_time_limit" : "budget";
      } else {
        r.status = TrialStatus::completed;
      }
      break;
  }
  store_.save(r);
  record_of(r.id) = r;
  observe(r);
  if (!o_.quiet) {
    clear_progress();
    std::fprintf(stderr, "trial %lld %s: %s %s at epoch %d/%d (%.1fs)%s%s\n", (long long)r.id, to_string(r.status),
                 s_.h.metric.c_str(),
                 std::isfinite(r.metric) ? format_double(std::round(r.metric * 1e4) / 1e4).c_str() : "-", r.best_epoch,
                 r.epochs, r.seconds, r.error.empty() ? "" : " ", r.error.c_str());
  }
  write_file_atomic(path_join(o_.output_directory, "leaderboard.csv"), leaderboard_csv(s_, trials_));
}

void Coordinator::finish_fold(Running& w, bool complete) {
  rr_.epochs += static_cast<int64_t>(w.rec.curve.size());
  double best = std::nan("");
  for (double v : w.rec.curve)
    if (better(s_.h, v, best)) best = v;
  if (complete && std::isfinite(best)) {
    rr_.scores[w.rec.id][w.cv_fold] = best;
    store_.put(rerank_fold_key(w.rec.id, w.cv_fold), format_double(best));
  }
  if (!o_.quiet) {
    clear_progress();
    std::fprintf(stderr, "re-rank trial %lld fold %d/%d: %s %s%s (%.1fs)\n", (long long)w.rec.id, w.cv_fold + 1,
                 rr_.folds, s_.h.metric.c_str(),
                 std::isfinite(best) ? format_double(std::round(best * 1e4) / 1e4).c_str() : "-",
                 complete ? "" : " (not finished: left out)", (now_ms() - w.start_ms) / 1000.0);
  }
}

std::vector<int64_t> Coordinator::plan(double seconds, double* cost) {
  return plan_rerank(s_.h, trials_, workers_, seconds,
                     [&](int64_t id, int fold) { return !store_.get(rerank_fold_key(id, fold)).empty(); }, cost);
}

// Ends the search: running trials stop (keeping their best epoch); the candidates are chosen
// once they have reported.
void Coordinator::start_rerank() {
  phase_ = Phase::rerank_wait;
  const int64_t now = now_ms();
  pool_->for_each_busy([&](Pool::Slot& w) {
    if (w.job->stop == StopReason::none) stop(w, StopReason::budget, now + 1500);
  });
  for (auto& r : queue_) {
    r.status = TrialStatus::stopped;
    r.error = "budget";
    store_.save(r);
    record_of(r.id) = r;
  }
  queue_.clear();
}

void Coordinator::choose_candidates(int64_t now) {
  phase_ = Phase::rerank;
  rr_.candidates = plan(std::min(s_.h.rerank_max_fraction * budget_, (end_ms_ - now) / 1000.0), nullptr);
  for (int64_t id : rr_.candidates) {
    auto& sc = rr_.scores[id];
    sc.assign(rr_.folds, std::nan(""));
    for (int f = 0; f < rr_.folds; ++f)
      if (!parse_double(store_.get(rerank_fold_key(id, f)), sc[f])) cv_queue_.push_back({id, f});
  }
  if (!o_.quiet && !rr_.candidates.empty()) {
    clear_progress();
    std::fprintf(stderr, "kiln: re-ranking the best %zu trials on %d folds of the training and validation rows\n",
                 rr_.candidates.size(), rr_.folds);
  }
  if (rr_.candidates.empty()) rr_.skipped = "too little time left for the folds of 2 trials";
}

// One line from a worker about its current job.
void Coordinator::on_line(Pool::Slot& w, const std::string& line, bool alive) {
  if (!w.job) return;
  Running& r = *w.job;
  const auto report = parse_report(line);
  if (!report) return;
  if (const auto* e = std::get_if<EpochReport>(&*report)) {
    if (e->eval_seconds > slowest_eval_s_) {
      slowest_eval_s_ = e->eval_seconds;
      store_.put("slowest_eval_s", format_double(e->eval_seconds));
      update_end();
    }
    if (static_cast<int>(r.rec.curve.size()) < e->epoch)
      r.rec.curve.resize(e->epoch, std::nan("")), r.rec.curve_at.resize(e->epoch, std::nan(""));
    r.rec.curve[e->epoch - 1] = e->value;
    r.rec.curve_at[e->epoch - 1] = study_clock();
    if (r.cv_fold >= 0) return;  // a re-ranking run: no scheduler, no trial record
    store_.add_epoch(r.rec.id, e->epoch, e->value, r.rec.curve_at[e->epoch - 1]);
    if (!scheduler_->on_result(r.rec.id, e->epoch, s_.h.maximize() ? e->value : -e->value) && alive &&
        r.stop == StopReason::none)
      // stops this trial at its next batch; the worker stays
      stop(w, s_.h.max_t > 0 && e->epoch >= s_.h.max_t ? StopReason::max_t : StopReason::pruned, now_ms() + 10000);
    return;
  }
  if (std::holds_alternative<FailedReport>(*report)) {
    if (r.cv_fold >= 0) finish_fold(r, false);
    else finish(r, true, 0);
    w.job.reset();
    return;
  }
  const auto& end = std::get<EndReport>(*report);
  r.interrupted = end.interrupted;
  if (r.cv_fold >= 0) {
    finish_fold(r, !r.interrupted && r.stop == StopReason::none);
    w.job.reset();
    return;
  }
  // The worker's own best epoch, in case its report was lost (killed between checkpoint and report).
  const int best = end.best_epoch;
  if (best > 0 && std::isfinite(end.best_value) &&
      (static_cast<int>(r.rec.curve.size()) < best || !std::isfinite(r.rec.curve[best - 1]))) {
    if (static_cast<int>(r.rec.curve.size()) < best)
      r.rec.curve.resize(best, std::nan("")), r.rec.curve_at.resize(best, std::nan(""));
    r.rec.curve[best - 1] = end.best_value;
    r.rec.curve_at[best - 1] = study_clock();
    store_.add_epoch(r.rec.id, best, end.best_value, r.rec.curve_at[best - 1]);
  }
  finish(r, false, 0);
  w.job.reset();
}

// A worker died during a job: the trial fails (the study goes on; the pool starts a new worker
// for the next one).
void Coordinator::on_death(Pool::Slot& w, int term_signal) {
  if (w.job->cv_fold >= 0) finish_fold(*w.job, false);
  else finish(*w.job, true, term_signal);
  w.job.reset();
}

void Coordinator::clear_progress() const {
  if (tty_) std::fprintf(stderr, "\r\033[K");
}

void Coordinator::progress() const {
  if (o_.quiet || !tty_) return;
  const TrialRecord* b = best();
  int64_t finished = 0;
  for (const auto& r : trials_) finished += r.status != TrialStatus::running;
  std::fprintf(stderr, "\r\033[K[%5.0fs / %.0fs] %lld finished, %zu running; best %s %s", study_clock(), budget_,
               (long long)finished, pool_->busy(), s_.h.metric.c_str(),
               b ? (format_double(std::round(b->metric * 1e4) / 1e4) + " (trial " + std::to_string(b->id) + ")").c_str()
                 : "-");
}

void Coordinator::run() {
  int64_t last_elapsed_write = 0;
  const auto busy = [&] { return static_cast<int>(pool_->busy()); };
  while (true) {
    const int64_t now = now_ms();
    if (now >= end_ms_ && phase_ != Phase::stopping) {
      phase_ = Phase::stopping;  // no time left to re-rank
      cv_queue_.clear();
      pool_->for_each_busy([&](Pool::Slot& w) { stop(w, StopReason::budget, now + 1500); });
    }
    if (phase_ == Phase::search && rerank_on_) {
      // Time to re-rank: what the best trials' folds cost (at most max_budget_fraction of the
      // budget), with room for uneven folds and for the running trials to stop, fills the time left.
      double cost = 0;
      if (!plan(s_.h.rerank_max_fraction * budget_, &cost).empty() && (end_ms_ - now) / 1000.0 <= 1.2 * cost + 2.0)
        start_rerank();
    }
    if (phase_ == Phase::search) {
      while (busy() < workers_) {
        if (!queue_.empty()) {
          TrialRecord r = queue_.front();
          queue_.erase(queue_.begin());
          launch(r, true);
          continue;
        }
        if (total_ >= 0 && next_id_ >= total_) break;
        TrialRecord r;
        r.id = next_id_++;
        r.internal = sampler_->suggest(r.id, observations_);
        launch(r, false);
      }
      if (busy() == 0 && rerank_on_) start_rerank();  // every trial ran before the budget ended
    }
    if (phase_ == Phase::rerank_wait && busy() == 0) choose_candidates(now);
    if (phase_ == Phase::rerank)
      while (busy() < workers_ && !cv_queue_.empty()) {
        auto [id, fold] = cv_queue_.front();
        cv_queue_.erase(cv_queue_.begin());
        launch_fold(id, fold);
      }
    if (busy() == 0 && phase_ != Phase::rerank_wait) break;
    // Trial time limits (workers also watch their own deadline) and stubborn workers.
    pool_->for_each_busy([&](Pool::Slot& w) {
      Running& r = *w.job;
      if (s_.h.trial_time_limit_s > 0 && r.stop == StopReason::none &&
          now - r.start_ms > static_cast<int64_t>(s_.h.trial_time_limit_s * 1000))
        stop(w, StopReason::trial_time_limit, now + 1500);
      if (r.kill_at_ms > 0 && now > r.kill_at_ms) w.process->signal(SIGKILL);
    });
    const int timeout =
        phase_ == Phase::stopping ? 200 : static_cast<int>(std::clamp<int64_t>(end_ms_ - now, 1, 200));
    pool_->poll(
        timeout, [&](Pool::Slot& w, const std::string& line, bool alive) { on_line(w, line, alive); },
        [&](Pool::Slot& w, int term_signal) { on_death(w, term_signal); });
    if (now - last_elapsed_write >= 1000) {
      store_.put("elapsed_s", format_double(study_clock()));
      last_elapsed_write = now;
      progress();
    }
  }
  pool_->shutdown();  // idle workers exit when their input closes
  store_.put("elapsed_s", format_double(study_clock()));
  if (!o_.quiet) clear_progress();
}

}  // namespace

// ---------------------------------------------------------------------------------------------

int run_hyperopt(const HyperoptOptions& o) {
  const int64_t t0 = now_ms();
  Study s = load_study(o);
  check_writable(o.output_directory);
  make_dirs(o.output_directory);
  const DirLock lock(o.output_directory);  // or throws: another Kiln run writes here
  const std::string store_path = path_join(o.output_directory, "hyperopt.sqlite");
  const bool existed = file_exists(store_path);
  if (existed && !o.resume)
    throw ModelError(store_path + ": a study already ran in this output directory (--resume continues it; "
                     "or choose another --output_directory)");
  if (!existed && o.resume) throw ModelError(store_path + ": no study to resume (run without --resume)");
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  const int total_threads = o.threads > 0 ? o.threads : cores;
  const SharedData data = prepare_shared(o, s, total_threads);
  const auto store = open_store(o, s, store_path, existed, data.dataset_hash);

  Coordinator c(o, s, *store, data, total_threads, t0, existed);
  c.run();
  const double search_s = c.study_clock();

  // Outputs. The best trial by validation, unless the re-ranking compared at least two candidates
  // on every fold.
  RerankResult& rr = c.rerank();
  const TrialRecord* best = c.best();
  if (c.rerank_on() && rr.candidates.empty() && rr.skipped.empty()) rr.skipped = "no time left for the folds of 2 trials";
  choose_reranked(s.h, rr);
  if (rr.chosen >= 0) best = &c.record(rr.chosen);
  const int64_t best_id = best ? best->id : -1;
  const auto& trials = c.trials();
  write_file_atomic(path_join(o.output_directory, "leaderboard.csv"), leaderboard_csv(s, trials));
  write_file_atomic(path_join(o.output_directory, "hyperopt_statistics.json"),
                    statistics_json(s, trials, search_s, c.workers(), c.threads_per_trial(), best_id, rr));
  make_dirs(path_join(o.output_directory, "reports"));
  write_file_atomic(path_join(path_join(o.output_directory, "reports"), "hyperopt_report.html"),
                    hyperopt_report_html(s.h, trials, best_id, s.h.time_budget_s, search_s, rr));
  std::cout << leaderboard_text(s, trials, 10) << rerank_text(trials, rr);  // the result, like evaluate's metrics
  if (!best)
    throw ModelError("no trial completed an epoch within the budget of " + format_double(s.h.time_budget_s) +
                     "s; raise hyperopt.executor.time_budget_s (or --time_limit_s)");
  const std::string best_dir = path_join(c.trials_dir(), "trial_" + std::to_string(best_id));
  copy_model(path_join(best_dir, "model"), path_join(o.output_directory, "best_model"));
  write_file_atomic(path_join(o.output_directory, "best_config.yaml"), read_file(path_join(best_dir, "config.yaml")));
  for (const char* f : {"training_statistics.json", "description.json"})
    if (file_exists(path_join(best_dir, f)))
      write_file_atomic(path_join(o.output_directory, f), read_file(path_join(best_dir, f)));
  ScoreOptions so;
  so.model_path = path_join(o.output_directory, "best_model");
  so.dataset = o.dataset;
  so.output_directory = o.output_directory;
  so.split = "test";
  so.threads = total_threads;
  so.quiet = true;
  int rc = 0;
  try {  // the search never saw the test split; an empty one leaves test_statistics.json out
    rc = run_evaluate(so);
  } catch (const DataError& e) {
    std::cerr << "kiln: note: " << e.what() << "\n";
  }
  if (!o.quiet)
    std::fprintf(stderr, "kiln: best trial %lld: %s %s; %lld trials (%lld launched now) in %.1fs; best model in %s\n",
                 (long long)best_id, s.h.metric.c_str(), format_double(best->metric).c_str(),
                 (long long)trials.size(), (long long)c.launched(), (now_ms() - t0) / 1000.0, so.model_path.c_str());
  return rc;
}

}  // namespace kiln
