#include "automl/hyperopt.h"

#include "util/json.h"  // first: configures RapidJSON
#include <rapidjson/document.h>
#include <fcntl.h>
#include <c10/util/Exception.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "automl/hyperopt_report.h"
#include "automl/samplers.h"
#include "automl/search_space.h"
#include "automl/trial_store.h"
#include "config/config.h"
#include "config/schema.h"
#include "config/yaml_io.h"
#include "pipelines/model_store.h"
#include "pipelines/pipelines.h"
#include "pipelines/preprocess.h"
#include "train/evaluate.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strings.h"

extern char** environ;

namespace kiln {
namespace {

using Clock = std::chrono::steady_clock;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

std::atomic<int> g_stop_requested{0};
void on_term(int) { g_stop_requested = 1; }

std::string self_exe() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw ModelError("cannot find this program's path (/proc/self/exe) to start trial workers");
  return std::string(buf, static_cast<size_t>(n));
}

// A YAML value as JSON: numbers and booleans stay typed, other scalars are strings, lists and
// maps are written as their flow-style YAML text.
void json_yaml_value(JsonWriter& w, const YAML::Node& v) {
  if (v.IsScalar()) {
    double d;
    const std::string& s = v.Scalar();
    if (v.Tag() != "!" && parse_double(s, d)) {
      int64_t i;
      if (parse_int(s, i)) w.Int64(i);
      else json_double(w, d);
    } else if (v.Tag() != "!" && (s == "true" || s == "false")) {
      w.Bool(s == "true");
    } else {
      json_string(w, s);
    }
  } else {
    json_string(w, yaml_to_string(v));
  }
}

struct Study {
  HyperoptSpec h;
  YAML::Node base;  // the config without its hyperopt block, watching the hyperopt metric
  std::string file;
  int epochs = 0;   // trainer.epochs of the base config (ASHA's default max_t)
};

// The trial's config for internal coordinates x. Type choices are applied first, so that the
// options of the chosen components decide which other parameters apply.
YAML::Node trial_config(const Study& s, const std::vector<double>& x, std::string* params_json,
                        std::vector<bool>* applied_out = nullptr) {
  YAML::Node c = YAML::Clone(s.base);
  std::vector<size_t> order(s.h.parameters.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto is_type = [&](size_t i) {
    const std::string& p = s.h.parameters[i].path;
    return p == "." || p == "combiner" || (p.size() > 5 && p.compare(p.size() - 5, 5, ".type") == 0);
  };
  std::stable_partition(order.begin(), order.end(), is_type);
  std::map<size_t, YAML::Node> applied;
  for (size_t i : order) {
    const ParamSpace& p = s.h.parameters[i];
    if (!inapplicable_reason(c, p.path).empty()) continue;
    YAML::Node v = p.value(x[i]);
    set_config_path(c, p.path, v);
    applied[i] = v;
  }
  if (applied_out) {
    applied_out->assign(s.h.parameters.size(), false);
    for (const auto& [i, v] : applied) (*applied_out)[i] = true;
  }
  if (params_json) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> raw(sb);
    JsonWriter w(sb);
    w.SetFormatOptions(rapidjson::kFormatSingleLineArray);
    w.SetIndent(' ', 0);
    w.StartObject();
    for (size_t i = 0; i < s.h.parameters.size(); ++i) {
      json_key(w, s.h.parameters[i].path);
      auto it = applied.find(i);
      if (it == applied.end()) w.Null();  // does not apply to this architecture
      else json_yaml_value(w, it->second);
    }
    w.EndObject();
    std::string t(sb.GetString(), sb.GetSize());
    t.erase(std::remove(t.begin(), t.end(), '\n'), t.end());
    *params_json = t;
  }
  return c;
}

std::string emit(const YAML::Node& n) {
  YAML::Emitter e;
  e << n;
  return std::string(e.c_str()) + "\n";
}

// Strips "file:line:col: " prefixes a generated config's parse errors carry.
std::string strip_location(const std::string& msg, const std::string& marker) {
  std::string out;
  std::istringstream in(msg);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(marker, 0) == 0) {
      size_t p = line.find(": ", marker.size());
      if (p != std::string::npos) line = line.substr(p + 2);
    }
    out += (out.empty() ? "" : "; ") + line;
  }
  return out;
}

Study load_study(const HyperoptOptions& o) {
  Study s;
  s.file = o.config_path;
  std::string text = o.config_text;
  if (text.empty()) {
    try {
      text = read_file(o.config_path);
    } catch (const DataError& e) {
      throw ConfigError(e.what());
    }
  }
  Config parsed = parse_config(text, s.file);
  s.h = parse_hyperopt(parsed.hyperopt, s.file);
  if (o.time_limit_s > 0) s.h.time_budget_s = o.time_limit_s;
  s.epochs = parsed.trainer.train_steps ? 0 : parsed.trainer.epochs;
  if (s.h.scheduler == "asha" && s.h.max_t == 0) s.h.max_t = s.epochs;

  // The metric the search optimizes is the one every trial's trainer watches.
  const std::string where = yaml_where(s.file, parsed.hyperopt);
  std::vector<std::string> outputs = {"combined"};
  const FeatureConfig* out = nullptr;
  for (const auto& f : parsed.output_features) {
    outputs.push_back(f.name);
    if (f.name == s.h.output_feature) out = &f;
  }
  if (s.h.output_feature != "combined" && !out)
    throw ConfigError(where + ": hyperopt.output_feature: '" + s.h.output_feature +
                      "' is not an output feature" + suggest(s.h.output_feature, outputs));
  std::vector<std::string> metrics = {"loss"};
  if (out)
    for (const auto& m : feature_schemas().find(out->type)->metrics)
      if (m != "loss") metrics.push_back(m);
  if (std::find(metrics.begin(), metrics.end(), s.h.metric) == metrics.end())
    throw ConfigError(where + ": hyperopt.metric: '" + s.h.metric + "' is not a metric of " +
                      (out ? out->type + " output '" + out->name + "'" : std::string("the combined output")) +
                      " (expected one of " + join(metrics, ", ") + ")" + suggest(s.h.metric, metrics));
  if (higher_is_better(s.h.metric) != s.h.maximize())
    std::cerr << "kiln: note: hyperopt.goal is " << s.h.goal << " but " << s.h.metric << " is better when "
              << (higher_is_better(s.h.metric) ? "higher" : "lower") << "\n";

  s.base = YAML::Load(text);
  s.base.remove("hyperopt");
  s.base["trainer"]["validation_field"] = s.h.output_feature;
  s.base["trainer"]["validation_metric"] = s.h.metric;

  // Every parameter must name a real place in the config, and apply to at least one of the
  // architectures the space can produce; sampled configs must parse.
  std::vector<std::string> reasons(s.h.parameters.size());
  std::vector<int> applied(s.h.parameters.size(), 0);
  auto sampler = make_sampler([&] {
    HyperoptSpec r = s.h;
    r.search_alg = "random";
    return r;
  }());
  const std::string marker = "<sampled config>";
  {  // each parameter alone, so a wrong key is reported at its own line
    std::vector<double> x = sampler->suggest(0, {});
    for (size_t i = 0; i < s.h.parameters.size(); ++i) {
      const ParamSpace& p = s.h.parameters[i];
      YAML::Node c = YAML::Clone(s.base);
      if (!inapplicable_reason(c, p.path).empty()) continue;
      try {
        set_config_path(c, p.path, p.value(x[i]));
        parse_config(emit(c), marker);
      } catch (const ConfigError& e) {
        std::string msg = strip_location(e.what(), marker);
        const std::string prefix = "hyperopt.parameters." + p.path + ": ";
        if (msg.rfind(prefix, 0) == 0) msg = msg.substr(prefix.size());
        throw ConfigError(p.where + ": " + prefix + msg);
      }
    }
  }
  for (int k = 0; k < 24; ++k) {
    std::vector<double> x = sampler->suggest(k, {});
    std::string params;
    std::vector<bool> used;
    YAML::Node tc;
    try {
      tc = trial_config(s, x, &params, &used);
    } catch (const ConfigError& e) {
      throw ConfigError(yaml_where(s.file, parsed.hyperopt) + ": " + e.what());
    }
    for (size_t i = 0; i < s.h.parameters.size(); ++i) {
      if (used[i]) ++applied[i];
      else if (reasons[i].empty()) reasons[i] = inapplicable_reason(tc, s.h.parameters[i].path);
    }
    try {
      parse_config(emit(tc), marker);
    } catch (const ConfigError& e) {
      throw ConfigError(yaml_where(s.file, parsed.hyperopt) + ": hyperopt.parameters: the sampled values " +
                        params + " make an invalid config: " + strip_location(e.what(), marker));
    }
  }
  for (size_t i = 0; i < s.h.parameters.size(); ++i)
    if (!applied[i])
      throw ConfigError(s.h.parameters[i].where + ": hyperopt.parameters." + s.h.parameters[i].path + ": " +
                        reasons[i]);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Workers

struct Running {
  TrialRecord rec;
  int64_t start_ms = 0;
  std::string stop_reason;  // pruned | budget | trial_time_limit | max_t
  bool got_end = false;
  bool interrupted = false;
  int64_t kill_at_ms = 0;  // SIGKILL a worker that ignores SIGTERM
  std::string dir;
  int cv_fold = -1;  // >= 0: a re-ranking run of trial rec.id on this fold (not a trial)
};


// A worker process (`kiln _trial --serve`): reads one trial per line on stdin, reports on stdout.
// It stays up between trials, so the start-up of the process and the data it read are paid once.
struct Worker {
  pid_t pid = -1;
  int in = -1, out = -1;  // its stdin (we write), its stdout (we read)
  std::string buf;
  std::optional<Running> trial;  // the trial it runs, if any
};

Worker spawn_worker(const std::vector<std::string>& args, const std::string& log_path) {
  int to[2], from[2];
  if (::pipe2(to, O_CLOEXEC) != 0 || ::pipe2(from, O_CLOEXEC) != 0)
    throw ModelError("cannot create pipes for a trial worker");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, to[0], 0);
  posix_spawn_file_actions_adddup2(&fa, from[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // The worker checks its coordinator's pid at start (cli/main.cpp): given in its environment only,
  // never set in ours.
  std::vector<std::string> env_text;
  const std::string key = "KILN_COORDINATOR_PID=";
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, key.c_str(), key.size()) != 0) env_text.emplace_back(*e);
  env_text.push_back(key + std::to_string(::getpid()));
  std::vector<char*> envp;
  for (auto& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);
  Worker w;
  int rc = posix_spawn(&w.pid, args[0].c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(to[0]);
  ::close(from[1]);
  if (rc != 0) {
    ::close(to[1]);
    ::close(from[0]);
    throw ModelError("cannot start a trial worker (" + args[0] + "): " + std::strerror(rc));
  }
  ::fcntl(from[0], F_SETFL, O_NONBLOCK);
  w.in = to[1];
  w.out = from[0];
  return w;
}

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
// Outputs

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

bool better(const HyperoptSpec& h, double a, double b) {
  if (!std::isfinite(a)) return false;
  if (!std::isfinite(b)) return true;
  return h.maximize() ? a > b : a < b;
}

std::vector<const TrialRecord*> ranked(const HyperoptSpec& h, const std::vector<TrialRecord>& trials) {
  std::vector<const TrialRecord*> r;
  for (const auto& t : trials) r.push_back(&t);
  std::stable_sort(r.begin(), r.end(), [&](auto a, auto b) { return better(h, a->metric, b->metric); });
  return r;
}

std::vector<std::pair<std::string, std::string>> params_of(const TrialRecord& t) {
  std::vector<std::pair<std::string, std::string>> out;
  rapidjson::Document d;
  d.Parse(t.params_json.c_str());
  if (d.HasParseError() || !d.IsObject()) return out;
  for (auto it = d.MemberBegin(); it != d.MemberEnd(); ++it) {
    std::string v;
    if (it->value.IsNull()) v = "";
    else if (it->value.IsString()) v = it->value.GetString();
    else if (it->value.IsBool()) v = it->value.GetBool() ? "true" : "false";
    else if (it->value.IsInt64()) v = std::to_string(it->value.GetInt64());
    else if (it->value.IsNumber()) v = format_double(it->value.GetDouble());
    out.push_back({it->name.GetString(), v});
  }
  return out;
}

std::string leaderboard_csv(const Study& s, const std::vector<TrialRecord>& trials) {
  std::ostringstream o;
  o << "rank,trial_id,status," << s.h.metric << ",best_epoch,epochs,seconds";
  for (const auto& p : s.h.parameters) o << "," << csv_field(p.path);
  o << ",error\n";
  int rank = 0;
  for (const TrialRecord* t : ranked(s.h, trials)) {
    o << ++rank << "," << t->id << "," << t->status << ","
      << (std::isfinite(t->metric) ? format_double(t->metric) : "") << "," << t->best_epoch << ","
      << t->epochs << "," << format_double(std::round(t->seconds * 100) / 100);
    auto ps = params_of(*t);
    for (const auto& p : s.h.parameters) {
      std::string v;
      for (const auto& [k, val] : ps)
        if (k == p.path) v = val;
      o << "," << csv_field(v);
    }
    o << "," << csv_field(t->error) << "\n";
  }
  return o.str();
}

std::string statistics_json(const Study& s, const std::vector<TrialRecord>& trials, double elapsed,
                            int workers, int threads_per_trial, int64_t best_id, const RerankResult& rr) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.SetIndent(' ', 1);
  w.StartObject();
  w.Key("hyperopt_config");
  w.StartObject();
  w.Key("goal"), json_string(w, s.h.goal);
  w.Key("metric"), json_string(w, s.h.metric);
  w.Key("output_feature"), json_string(w, s.h.output_feature);
  w.Key("split"), json_string(w, s.h.split);
  w.Key("search_alg"), json_string(w, s.h.search_alg);
  w.Key("random_state"), w.Int64(s.h.random_state);
  w.Key("scheduler"), json_string(w, s.h.scheduler);
  if (s.h.scheduler == "asha") {
    w.Key("max_t"), w.Int(s.h.max_t);
    w.Key("grace_period"), w.Int(s.h.grace_period);
    w.Key("reduction_factor"), json_double(w, s.h.reduction_factor);
  }
  w.Key("num_samples"), w.Int64(s.h.num_samples);
  w.Key("time_budget_s"), json_double(w, s.h.time_budget_s);
  w.Key("max_concurrent_trials"), w.Int(workers);
  w.Key("threads_per_trial"), w.Int(threads_per_trial);
  w.Key("parameters");
  w.StartObject();
  for (const auto& p : s.h.parameters) {
    json_key(w, p.path);
    w.StartObject();
    w.Key("space"), json_string(w, p.type_name());
    if (p.categorical()) {
      w.Key(p.type == SpaceType::choice ? "categories" : "values");
      w.StartArray();
      for (const auto& c : p.categories) json_yaml_value(w, c);
      w.EndArray();
    } else if (p.bounded()) {
      w.Key("lower"), json_double(w, p.lower);
      w.Key("upper"), json_double(w, p.upper);
    } else {
      w.Key("mean"), json_double(w, p.mean);
      w.Key("sd"), json_double(w, p.sd);
    }
    if (p.q > 0) w.Key("q"), json_double(w, p.q);
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  std::map<std::string, int> counts;
  int64_t trial_epochs = 0;
  for (const auto& t : trials) ++counts[t.status], trial_epochs += t.epochs;
  w.Key("study");
  w.StartObject();
  w.Key("elapsed_s"), json_double(w, elapsed);
  w.Key("trials"), w.Int(static_cast<int>(trials.size()));
  for (const char* st : {"completed", "pruned", "stopped", "failed"}) w.Key(st), w.Int(counts[st]);
  w.Key("trial_epochs"), w.Int64(trial_epochs);
  w.EndObject();
  w.Key("best_trial");
  if (best_id >= 0) w.Int64(best_id); else w.Null();
  w.Key("rerank");
  w.StartObject();
  w.Key("folds"), w.Int(rr.folds);
  w.Key("epochs"), w.Int64(rr.epochs);
  if (!rr.skipped.empty()) w.Key("skipped"), json_string(w, rr.skipped);
  w.Key("candidates");
  w.StartArray();
  for (int64_t id : rr.candidates) {
    w.StartObject();
    w.Key("trial_id"), w.Int64(id);
    for (const auto& t : trials)
      if (t.id == id) w.Key("validation_score"), json_double(w, t.metric);
    w.Key("cv_mean"), json_double(w, rr.mean(id));
    w.Key("cv_folds");
    w.StartArray();
    for (double v : rr.scores.count(id) ? rr.scores.at(id) : std::vector<double>{}) json_double(w, v);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.Key("chosen_trial");
  if (rr.chosen >= 0) w.Int64(rr.chosen); else w.Null();
  w.EndObject();
  w.Key("hyperopt_results");
  w.StartArray();
  for (const TrialRecord* t : ranked(s.h, trials)) {
    w.StartObject();
    w.Key("trial_id"), w.Int64(t->id);
    w.Key("parameters");
    rapidjson::Document d;
    d.Parse(t->params_json.c_str());
    if (!d.HasParseError()) d.Accept(w); else w.Null();
    w.Key("metric_score"), json_double(w, t->metric);
    w.Key("status"), json_string(w, t->status);
    w.Key("best_epoch"), w.Int(t->best_epoch);
    w.Key("epochs"), w.Int(t->epochs);
    w.Key("started_s"), json_double(w, t->started_s);
    w.Key("seconds"), json_double(w, t->seconds);
    w.Key("metric_per_epoch");
    w.StartArray();
    for (double v : t->curve) json_double(w, v);
    w.EndArray();
    w.Key("reported_at_s");
    w.StartArray();
    for (double v : t->curve_at) json_double(w, v);
    w.EndArray();
    if (!t->error.empty()) w.Key("error"), json_string(w, t->error);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

std::string leaderboard_text(const Study& s, const std::vector<TrialRecord>& trials, size_t top) {
  std::ostringstream o;
  char line[256];
  std::snprintf(line, sizeof line, "%4s %6s %-10s %10s %6s %8s  %s\n", "rank", "trial", "status",
                s.h.metric.substr(0, 10).c_str(), "epochs", "seconds", "parameters");
  o << line;
  size_t rank = 0;
  for (const TrialRecord* t : ranked(s.h, trials)) {
    if (++rank > top) break;
    std::string ps;
    for (const auto& [k, v] : params_of(*t))
      if (!v.empty()) ps += (ps.empty() ? "" : " ") + k + "=" + v;
    std::snprintf(line, sizeof line, "%4zu %6lld %-10s %10s %6d %8.1f  ", rank, (long long)t->id,
                  t->status.c_str(), std::isfinite(t->metric) ? format_double(std::round(t->metric * 1e4) / 1e4).c_str() : "-",
                  t->epochs, t->seconds);
    o << line << ps << "\n";
  }
  if (trials.size() > top) o << "  (" << trials.size() - top << " more in leaderboard.csv)\n";
  return o.str();
}

void copy_model(const std::string& from, const std::string& to) {
  namespace fs = std::filesystem;
  const std::string tmp = to + ".tmp." + std::to_string(::getpid());
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  for (const auto& e : fs::directory_iterator(from)) {
    const std::string name = e.path().filename().string();
    if (name == "checkpoints" || name == "monitor.sqlite") continue;
    fs::copy(e.path(), fs::path(tmp) / name, fs::copy_options::recursive);
  }
  fs::remove_all(to);
  fs::rename(tmp, to);
}

}  // namespace

namespace {

// One trial in this process; prints its epochs and an "end" line on stdout.
void run_one_trial(const TrialWorkerOptions& o) {
  g_stop_requested = 0;
  TrainOptions t;
  t.config_path = o.config_path;
  t.dataset = o.dataset;
  t.output_directory = o.output_directory;
  t.resume = o.resume;
  t.overwrite = true;  // a trial's directory belongs to the study, which --resume guards
  t.threads = o.threads;
  t.use_cache = o.use_cache;
  t.cache_dir = o.cache_dir;
  t.keep_prepared = true;  // the next trial with the same preprocessing reuses it
  t.cv_folds = o.cv_folds;
  t.cv_fold = o.cv_fold;
  t.cv_seed = o.cv_seed;
  t.require_validation = true;
  t.quiet = false;
  t.command_line = "kiln _trial";
  const int64_t deadline = o.deadline_ms;
  t.should_stop = [deadline] { return g_stop_requested.load() || (deadline > 0 && now_ms() >= deadline); };
  t.hide_test = true;
  t.on_epoch = [deadline](int epoch, double value, double eval_seconds) {
    std::printf("epoch %d %s %.4f\n", epoch, std::isfinite(value) ? format_double(value).c_str() : "nan",
                eval_seconds);
    std::fflush(stdout);
    return !g_stop_requested.load() && !(deadline > 0 && now_ms() >= deadline);
  };
  TrainOptions::Outcome out;
  t.outcome = &out;
  run_train(t, false);
  std::printf("end %d %d %s %d %s\n", out.epochs, out.best_epoch,
              out.best_epoch > 0 && std::isfinite(out.best_value) ? format_double(out.best_value).c_str() : "nan",
              out.interrupted ? 1 : 0, format_double(out.seconds).c_str());
  std::fflush(stdout);
}

}  // namespace

int run_trial_worker(const TrialWorkerOptions& o) {
  struct sigaction sa {};
  sa.sa_handler = on_term;
  sa.sa_flags = SA_RESTART;  // a stop request must not break the read of the next command
  ::sigaction(SIGTERM, &sa, nullptr);
  if (!o.serve) {
    run_one_trial(o);
    return 0;
  }
  // Serve: one trial per line, "<config>\t<output_directory>\t<deadline_ms>\t<resume 0|1>", and
  // for a re-ranking run "\t<folds>:<fold>:<seed>"; each trial's stderr goes to
  // <output_directory>/train.log; a failure is reported and the loop goes on.
  const int saved_stderr = ::dup(2);
  std::string line;
  while (std::getline(std::cin, line)) {
    std::vector<std::string> f(1);
    for (char ch : line) {
      if (ch == '\t') f.emplace_back();
      else f.back() += ch;
    }
    if (f.size() != 4 && f.size() != 5) continue;
    TrialWorkerOptions one = o;
    one.config_path = f[0];
    one.output_directory = f[1];
    one.deadline_ms = std::atoll(f[2].c_str());
    one.resume = f[3] == "1";
    if (f.size() == 5) {
      unsigned long long seed = 0;
      if (std::sscanf(f[4].c_str(), "%d:%d:%llu", &one.cv_folds, &one.cv_fold, &seed) != 3) continue;
      one.cv_seed = seed;
    }
    make_dirs(one.output_directory);
    int log = ::open(path_join(one.output_directory, "train.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log >= 0) ::dup2(log, 2), ::close(log);
    try {
      run_one_trial(one);
    } catch (const std::exception& e) {
      std::string msg = e.what();
      if (auto* c = dynamic_cast<const c10::Error*>(&e)) msg = c->what_without_backtrace();
      std::fprintf(stderr, "error: %s\n", msg.substr(0, msg.find('\n')).c_str());
      std::printf("failed\n");
      std::fflush(stdout);
    }
    std::fflush(stderr);
    ::dup2(saved_stderr, 2);
  }
  return 0;
}

size_t check_hyperopt(const std::string& config_path) {
  HyperoptOptions o;
  o.config_path = config_path;
  return load_study(o).h.parameters.size();
}

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
  if (!existed && o.resume)
    throw ModelError(store_path + ": no study to resume (run without --resume)");
  // Preprocess once, before the study is recorded (a failure here leaves no study behind): every
  // trial whose preprocessing matches the base config reads the cache.
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  const int total_threads = o.threads > 0 ? o.threads : cores;
  const std::string cache_dir = o.use_cache ? path_join(o.output_directory, "cache") : "";
  uint64_t dataset_hash = 0;
  int64_t validation_rows = -1, test_rows = -1;  // -1: not known here (no shared preprocessing)
  double prepare_s = -1;         // reading + preprocessing from the CSV, when measured here
  if (o.use_cache) {
    Config base = parse_config(emit(s.base), s.file);
    PrepareOptions po;
    po.threads = total_threads;
    po.quiet = true;
    po.cache_dir = cache_dir;
    Prepared p = prepare_training_data(base, o.dataset, po);
    if (p.data.validation.size(0) == 0)
      throw DataError(o.dataset + ": the validation split is empty; hyperopt compares trials on it "
                      "(add validation rows, or set preprocessing.split)");
    dataset_hash = p.dataset_hash;
    validation_rows = p.data.validation.size(0);
    test_rows = p.data.test.size(0);
    if (!p.from_cache) prepare_s = p.seconds;
    if (!o.quiet)
      std::fprintf(stderr, "kiln: preprocessed %lld rows once in %.2fs%s (shared by the trials)\n",
                   (long long)p.rows, p.seconds, p.from_cache ? " (cache)" : "");
  } else {
    try {
      const std::string bytes = read_file(o.dataset);
      dataset_hash = hash_bytes(bytes.data(), bytes.size());
    } catch (const DataError&) {
      // the workers report the unreadable file
    }
  }
  // A resumed study must be the same study: same base config, space and dataset.
  const std::string space_text = yaml_to_string(
      YAML::Load(o.config_text.empty() ? read_file(o.config_path) : o.config_text)["hyperopt"]["parameters"]);
  const std::string base_text = emit(s.base);
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
  TrialStore store(store_path);
  if (existed && store.get("config_key") != config_key)
    throw ModelError(store_path + ": the config, its search space, the search settings or the dataset changed "
                     "since this study started; resume needs the same ones (or choose another --output_directory)");
  std::vector<TrialRecord> trials = store.load();
  double elapsed_before = 0;
  parse_double(store.get("elapsed_s"), elapsed_before);
  const double budget = s.h.time_budget_s;
  const int64_t deadline_ms = t0 + static_cast<int64_t>(std::max(0.0, budget - elapsed_before) * 1000);
  // The search stops early enough for the final evaluation on the test split: it reads and
  // encodes the CSV again (at most what preprocessing took) and runs the best model over the
  // test rows (the slowest validation pass of any trial, scaled to the test split's size).
  if (prepare_s >= 0) store.put("prepare_s", format_double(prepare_s));
  else parse_double(store.get("prepare_s"), prepare_s);
  double slowest_eval_s = 0;
  parse_double(store.get("slowest_eval_s"), slowest_eval_s);
  int64_t end_ms = 0;
  auto update_end = [&] {
    const double scale = validation_rows > 0 && test_rows > 0 ? static_cast<double>(test_rows) / validation_rows : 1.0;
    const double reserve = std::min(0.25 * budget, 0.5 + 1.5 * (std::max(0.0, prepare_s) + slowest_eval_s * scale));
    end_ms = deadline_ms - static_cast<int64_t>(reserve * 1000);
  };
  update_end();
  auto study_clock = [&] { return elapsed_before + (now_ms() - t0) / 1000.0; };

  int workers = o.workers > 0 ? o.workers
                : s.h.max_concurrent_trials > 0
                    ? s.h.max_concurrent_trials
                    : std::max(1, static_cast<int>(total_threads / s.h.cpu_resources_per_trial));
  const int64_t total = s.h.total_trials();
  if (total > 0) workers = static_cast<int>(std::min<int64_t>(workers, total));
  const int threads_per_trial = std::max(1, total_threads / workers);

  if (!o.quiet) {
    std::fprintf(stderr, "kiln: hyperopt %s %s.%s over %zu parameters (%s sampler, %s scheduler); %s trials, "
                         "budget %.0fs, %d concurrent x %d threads\n",
                 s.h.goal.c_str(), s.h.output_feature.c_str(), s.h.metric.c_str(), s.h.parameters.size(),
                 s.h.search_alg.c_str(), s.h.scheduler.c_str(),
                 total < 0 ? "unbounded" : std::to_string(total).c_str(), budget, workers, threads_per_trial);
    if (existed)
      std::fprintf(stderr, "kiln: resuming: %zu trials on record, %.1fs of the budget used\n", trials.size(),
                   elapsed_before);
  }

  const bool rerank_on = s.h.rerank == "on" || (s.h.rerank == "auto" && validation_rows >= 0 && validation_rows < 2000);

  auto sampler = make_sampler(s.h);
  auto scheduler = make_scheduler(s.h, s.h.max_t);
  std::vector<Observation> observations;
  auto observe = [&](const TrialRecord& r) {
    if (r.status == "failed" || !std::isfinite(r.metric) || r.internal.size() != s.h.parameters.size()) return;
    observations.push_back({r.internal, s.h.maximize() ? -r.metric : r.metric});
  };
  // Replay the record: the scheduler's rungs, the sampler's observations, unfinished trials.
  std::vector<TrialRecord> requeue;
  int64_t next_id = 0;
  for (auto& r : trials) {
    next_id = std::max(next_id, r.id + 1);
    for (size_t e = 0; e < r.curve.size(); ++e)
      scheduler->on_result(r.id, static_cast<int>(e + 1), s.h.maximize() ? r.curve[e] : -r.curve[e]);
    if (r.status == "running") requeue.push_back(r);
    else observe(r);
  }
  auto record_of = [&](int64_t id) -> TrialRecord& {
    for (auto& r : trials)
      if (r.id == id) return r;
    trials.push_back(TrialRecord{});
    trials.back().id = id;
    return trials.back();
  };

  const std::string exe = self_exe();
  const std::string trials_dir = path_join(o.output_directory, "trials");
  make_dirs(trials_dir);
  std::vector<Worker> pool;  // at most `workers`; a worker that dies is replaced when needed
  const std::vector<std::string> worker_args = [&] {
    std::vector<std::string> a = {exe, "_trial", "--serve", "--dataset", o.dataset, "--threads",
                                  std::to_string(threads_per_trial)};
    if (!o.use_cache) a.push_back("--skip_cache");
    else a.insert(a.end(), {"--cache_dir", cache_dir});
    return a;
  }();
  auto running_count = [&] {
    size_t n = 0;
    for (const auto& w : pool) n += w.trial.has_value();
    return n;
  };
  int64_t launched_this_session = 0;
  // An idle worker (a new one when every worker is busy) gets one command line.
  auto send_to_worker = [&](const std::string& cmd) -> Worker& {
    Worker* w = nullptr;
    for (auto& x : pool)
      if (!x.trial) w = &x;
    if (!w) {
      pool.push_back(spawn_worker(worker_args, path_join(trials_dir, "workers.log")));
      w = &pool.back();
    }
    if (::write(w->in, cmd.data(), cmd.size()) != static_cast<ssize_t>(cmd.size()))
      throw ModelError("cannot send work to a trial worker process");
    return *w;
  };
  auto launch = [&](TrialRecord r, bool resume_trial) {
    Running t;
    t.dir = path_join(trials_dir, "trial_" + std::to_string(r.id));
    make_dirs(t.dir);
    const std::string cfg = path_join(t.dir, "config.yaml");
    if (!resume_trial) {
      std::string params;
      try {
        YAML::Node c = trial_config(s, r.internal, &params);
        r.params_json = params;
        write_file_atomic(cfg, emit(c));
      } catch (const ConfigError& e) {  // a value the checks did not sample: this trial fails, the study goes on
        r.status = "failed";
        r.error = e.what();
        store.save(r);
        record_of(r.id) = r;
        return;
      }
    }
    const bool has_ckpt = file_exists(path_join(t.dir, "model/checkpoints/latest.pt"));
    r.status = "running";
    r.started_s = study_clock();
    t.start_ms = now_ms();
    int64_t dl = end_ms;
    if (s.h.trial_time_limit_s > 0) dl = std::min(dl, t.start_ms + static_cast<int64_t>(s.h.trial_time_limit_s * 1000));
    Worker* w = &send_to_worker(cfg + "\t" + t.dir + "\t" + std::to_string(dl) + "\t" +
                                (resume_trial && has_ckpt ? "1" : "0") + "\n");
    t.rec = r;
    store.save(t.rec);
    record_of(r.id) = t.rec;
    w->trial = std::move(t);
    ++launched_this_session;
  };
  auto finished_count = [&] {
    int64_t n = 0;
    for (const auto& r : trials) n += r.status != "running";
    return n;
  };
  const bool tty = ::isatty(2);
  auto best_of = [&]() -> const TrialRecord* {
    const TrialRecord* b = nullptr;
    for (const auto& r : trials)
      if (r.status != "failed" && better(s.h, r.metric, b ? b->metric : std::nan(""))) b = &r;
    return b;
  };
  auto progress = [&] {
    if (o.quiet || !tty) return;
    const TrialRecord* b = best_of();
    std::fprintf(stderr, "\r\033[K[%5.0fs / %.0fs] %lld finished, %zu running; best %s %s", study_clock(), budget,
                 (long long)finished_count(), running_count(), s.h.metric.c_str(),
                 b ? (format_double(std::round(b->metric * 1e4) / 1e4) + " (trial " + std::to_string(b->id) + ")").c_str()
                   : "-");
  };

  // A trial is over: its worker reported "end" (ok), "failed" (an error, in train.log), or died
  // (killed_by: the signal).
  auto finish = [&](Running& w, bool failed, int killed_by) {
    TrialRecord& r = w.rec;
    r.seconds += (now_ms() - w.start_ms) / 1000.0;
    // the best epoch by the metric reported so far
    r.metric = std::nan("");
    r.best_epoch = 0;
    for (size_t e = 0; e < r.curve.size(); ++e)
      if (better(s.h, r.curve[e], r.metric)) r.metric = r.curve[e], r.best_epoch = static_cast<int>(e + 1);
    r.epochs = static_cast<int>(r.curve.size());
    if (w.stop_reason == "pruned") r.status = "pruned";
    else if (w.stop_reason == "max_t") r.status = "completed";
    else if (!w.stop_reason.empty()) r.status = "stopped", r.error = w.stop_reason;
    else if (killed_by) r.status = "failed", r.error = "killed by signal " + std::to_string(killed_by);
    else if (failed) r.status = "failed", r.error = last_error_line(path_join(w.dir, "train.log"));
    else if (w.interrupted) {
      const bool over_trial_limit = s.h.trial_time_limit_s > 0 &&
                                    now_ms() - w.start_ms >= static_cast<int64_t>(s.h.trial_time_limit_s * 1000) - 100;
      r.status = "stopped", r.error = over_trial_limit ? "trial_time_limit" : "budget";
    } else {
      r.status = "completed";
    }
    store.save(r);
    record_of(r.id) = r;
    observe(r);
    if (!o.quiet) {
      if (tty) std::fprintf(stderr, "\r\033[K");
      std::fprintf(stderr, "trial %lld %s: %s %s at epoch %d/%d (%.1fs)%s%s\n", (long long)r.id, r.status.c_str(),
                   s.h.metric.c_str(), std::isfinite(r.metric) ? format_double(std::round(r.metric * 1e4) / 1e4).c_str() : "-",
                   r.best_epoch, r.epochs, r.seconds, r.error.empty() ? "" : " ", r.error.c_str());
    }
    write_file_atomic(path_join(o.output_directory, "leaderboard.csv"), leaderboard_csv(s, trials));
  };

  // Re-run trials a kill interrupted (from their checkpoint when they have one).
  std::vector<TrialRecord> queue = requeue;
  // Re-ranking (HyperoptSpec::rerank): after the search, the best trials train again on the folds
  // of the training + validation rows (the same folds for every candidate), each for as many
  // epochs as its trial ran; the best mean fold metric picks the model.
  RerankResult rr;
  rr.folds = s.h.rerank_folds;
  bool searching = true, rerank_pending = false;
  std::vector<std::pair<int64_t, int>> cv_queue;  // (trial, fold), best candidates first
  auto cv_key = [](int64_t id, int fold) { return "cv:" + std::to_string(id) + ":" + std::to_string(fold); };
  // The best trials (by validation) whose folds fit in `seconds`: a fold costs what the trial took.
  auto plan_rerank = [&](double seconds, double* cost_out) {
    std::vector<int64_t> ids;
    double cost = 0;
    for (const TrialRecord* t : ranked(s.h, trials)) {
      if (static_cast<int>(ids.size()) >= s.h.rerank_top_k) break;
      if (t->status == "failed" || t->status == "running" || !std::isfinite(t->metric) || t->epochs < 1) continue;
      double c = 0;
      for (int f = 0; f < s.h.rerank_folds; ++f)
        if (store.get(cv_key(t->id, f)).empty()) c += std::max(0.05, t->seconds) / workers;
      if (cost + c > seconds) break;
      cost += c;
      ids.push_back(t->id);
    }
    if (ids.size() < 2) ids.clear();
    if (cost_out) *cost_out = cost;
    return ids;
  };
  auto finish_cv = [&](Running& w, bool complete) {
    rr.epochs += static_cast<int64_t>(w.rec.curve.size());
    double best = std::nan("");
    for (double v : w.rec.curve)
      if (better(s.h, v, best)) best = v;
    if (complete && std::isfinite(best)) {
      rr.scores[w.rec.id][w.cv_fold] = best;
      store.put(cv_key(w.rec.id, w.cv_fold), format_double(best));
    }
    if (!o.quiet) {
      if (tty) std::fprintf(stderr, "\r\033[K");
      std::fprintf(stderr, "re-rank trial %lld fold %d/%d: %s %s%s (%.1fs)\n", (long long)w.rec.id, w.cv_fold + 1,
                   rr.folds, s.h.metric.c_str(), std::isfinite(best) ? format_double(std::round(best * 1e4) / 1e4).c_str() : "-",
                   complete ? "" : " (not finished: left out)", (now_ms() - w.start_ms) / 1000.0);
    }
  };
  auto launch_cv = [&](int64_t id, int fold) {
    const TrialRecord& r = record_of(id);
    Running t;
    t.cv_fold = fold;
    t.rec.id = id;
    const std::string trial_dir = path_join(trials_dir, "trial_" + std::to_string(id));
    t.dir = path_join(trial_dir, "cv_" + std::to_string(fold));
    make_dirs(t.dir);
    const std::string cfg = path_join(trial_dir, "cv_config.yaml");
    if (!file_exists(cfg)) {
      YAML::Node c = YAML::Load(read_file(path_join(trial_dir, "config.yaml")));
      set_config_path(c, "trainer.epochs", YAML::Node(std::max(1, r.epochs)));
      write_file_atomic(cfg, emit(c));
    }
    t.start_ms = now_ms();
    Worker* w = &send_to_worker(cfg + "\t" + t.dir + "\t" + std::to_string(end_ms) + "\t0\t" + std::to_string(rr.folds) +
                                ":" + std::to_string(fold) + ":" + std::to_string(static_cast<uint64_t>(s.h.random_state)) +
                                "\n");
    w->trial = std::move(t);
  };
  // Ends the search: running trials stop (keeping their best epoch); the candidates are chosen
  // once they have reported.
  auto start_rerank = [&] {
    searching = false;
    rerank_pending = true;
    for (auto& wk : pool)
      if (wk.trial && wk.trial->stop_reason.empty()) {
        wk.trial->stop_reason = "budget";
        ::kill(wk.pid, SIGTERM);
        wk.trial->kill_at_ms = now_ms() + 1500;
      }
    for (auto& r : queue) {
      r.status = "stopped";
      r.error = "budget";
      store.save(r);
      record_of(r.id) = r;
    }
    queue.clear();
  };

  // One line from a worker about its current trial; returns true when the trial is over.
  auto handle_line = [&](Worker& wk, const std::string& line, bool alive) -> bool {
    if (!wk.trial) return false;
    Running& w = *wk.trial;
    std::istringstream in(line);
    std::string kind;
    in >> kind;
    if (kind == "epoch") {
      int epoch = 0;
      std::string v;
      double eval_s = 0;
      in >> epoch >> v >> eval_s;
      double value = std::nan("");
      parse_double(v, value);
      if (epoch < 1) return false;
      if (eval_s > slowest_eval_s) {
        slowest_eval_s = eval_s;
        store.put("slowest_eval_s", format_double(eval_s));
        update_end();
      }
      if (static_cast<int>(w.rec.curve.size()) < epoch)
        w.rec.curve.resize(epoch, std::nan("")), w.rec.curve_at.resize(epoch, std::nan(""));
      w.rec.curve[epoch - 1] = value;
      w.rec.curve_at[epoch - 1] = study_clock();
      if (w.cv_fold >= 0) return false;  // a re-ranking run: no scheduler, no trial record
      store.add_epoch(w.rec.id, epoch, value, w.rec.curve_at[epoch - 1]);
      if (!scheduler->on_result(w.rec.id, epoch, s.h.maximize() ? value : -value) && alive &&
          w.stop_reason.empty()) {
        w.stop_reason = s.h.max_t > 0 && epoch >= s.h.max_t ? "max_t" : "pruned";
        ::kill(wk.pid, SIGTERM);  // stops this trial at its next batch; the worker stays
        w.kill_at_ms = now_ms() + 10000;
      }
      return false;
    }
    if (kind == "failed") {
      if (w.cv_fold >= 0) finish_cv(w, false);
      else finish(w, true, 0);
      wk.trial.reset();
      return true;
    }
    if (kind == "end") {
      int epochs = 0, best = 0, interrupted = 0;
      std::string v;
      in >> epochs >> best >> v >> interrupted;
      w.got_end = true;
      w.interrupted = interrupted != 0;
      if (w.cv_fold >= 0) {
        finish_cv(w, !w.interrupted && w.stop_reason.empty());
        wk.trial.reset();
        return true;
      }
      // The worker's own best epoch, in case its report was lost (killed between checkpoint and report).
      double bv = std::nan("");
      if (best > 0 && parse_double(v, bv) && (static_cast<int>(w.rec.curve.size()) < best ||
                                               !std::isfinite(w.rec.curve[best - 1]))) {
        if (static_cast<int>(w.rec.curve.size()) < best)
          w.rec.curve.resize(best, std::nan("")), w.rec.curve_at.resize(best, std::nan(""));
        w.rec.curve[best - 1] = bv;
        w.rec.curve_at[best - 1] = study_clock();
        store.add_epoch(w.rec.id, best, bv, w.rec.curve_at[best - 1]);
      }
      finish(w, false, 0);
      wk.trial.reset();
      return true;
    }
    return false;
  };
  auto drain = [&](Worker& wk, bool alive) {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(wk.out, buf, sizeof buf)) > 0) {
      wk.buf.append(buf, static_cast<size_t>(n));
      size_t nl;
      while ((nl = wk.buf.find('\n')) != std::string::npos) {
        std::string line = wk.buf.substr(0, nl);
        wk.buf.erase(0, nl + 1);
        handle_line(wk, line, alive);
      }
    }
  };

  int64_t last_elapsed_write = 0;
  bool budget_hit = false;
  while (true) {
    const int64_t now = now_ms();
    if (now >= end_ms && !budget_hit) {
      budget_hit = true;
      rerank_pending = false;  // no time left to re-rank
      cv_queue.clear();
      for (auto& wk : pool)
        if (wk.trial) {
          if (wk.trial->stop_reason.empty()) wk.trial->stop_reason = "budget";
          ::kill(wk.pid, SIGTERM);
          wk.trial->kill_at_ms = now + 1500;
        }
    }
    if (!budget_hit && searching && rerank_on) {
      // Time to re-rank: what the best trials' folds cost (at most max_budget_fraction of the
      // budget), with room for uneven folds and for the running trials to stop, fills the time left.
      double cost = 0;
      if (!plan_rerank(s.h.rerank_max_fraction * budget, &cost).empty() && (end_ms - now) / 1000.0 <= 1.2 * cost + 2.0)
        start_rerank();
    }
    if (!budget_hit && searching) {
      while (static_cast<int>(running_count()) < workers) {
        if (!queue.empty()) {
          TrialRecord r = queue.front();
          queue.erase(queue.begin());
          launch(r, true);
          continue;
        }
        if (total >= 0 && next_id >= total) break;
        TrialRecord r;
        r.id = next_id++;
        r.internal = sampler->suggest(r.id, observations);
        launch(r, false);
      }
      if (running_count() == 0 && rerank_on) start_rerank();  // every trial ran before the budget ended
    }
    if (!budget_hit && !searching) {
      if (rerank_pending && running_count() == 0) {
        rerank_pending = false;
        rr.candidates = plan_rerank(std::min(s.h.rerank_max_fraction * budget, (end_ms - now) / 1000.0), nullptr);
        for (int64_t id : rr.candidates) {
          auto& sc = rr.scores[id];
          sc.assign(rr.folds, std::nan(""));
          for (int f = 0; f < rr.folds; ++f)
            if (!parse_double(store.get(cv_key(id, f)), sc[f])) cv_queue.push_back({id, f});
        }
        if (!o.quiet && !rr.candidates.empty()) {
          if (tty) std::fprintf(stderr, "\r\033[K");
          std::fprintf(stderr, "kiln: re-ranking the best %zu trials on %d folds of the training and validation rows\n",
                       rr.candidates.size(), rr.folds);
        }
        if (rr.candidates.empty()) rr.skipped = "too little time left for the folds of 2 trials";
      }
      while (static_cast<int>(running_count()) < workers && !cv_queue.empty()) {
        auto [id, fold] = cv_queue.front();
        cv_queue.erase(cv_queue.begin());
        launch_cv(id, fold);
      }
    }
    if (running_count() == 0 && !rerank_pending) break;
    // Trial time limits (workers also watch their own deadline) and stubborn workers.
    for (auto& wk : pool) {
      if (!wk.trial) continue;
      Running& w = *wk.trial;
      if (s.h.trial_time_limit_s > 0 && w.stop_reason.empty() &&
          now - w.start_ms > static_cast<int64_t>(s.h.trial_time_limit_s * 1000)) {
        w.stop_reason = "trial_time_limit";
        ::kill(wk.pid, SIGTERM);
        w.kill_at_ms = now + 1500;
      }
      if (w.kill_at_ms > 0 && now > w.kill_at_ms) ::kill(wk.pid, SIGKILL);
    }
    std::vector<pollfd> fds;
    for (auto& wk : pool) fds.push_back({wk.out, POLLIN, 0});
    int timeout = 200;
    if (!budget_hit) timeout = static_cast<int>(std::clamp<int64_t>(end_ms - now, 1, 200));
    ::poll(fds.data(), fds.size(), timeout);
    for (auto& wk : pool) drain(wk, true);
    int wstatus = 0;
    pid_t done;
    while ((done = ::waitpid(-1, &wstatus, WNOHANG)) > 0) {
      auto it = std::find_if(pool.begin(), pool.end(), [&](const Worker& w) { return w.pid == done; });
      if (it == pool.end()) continue;
      drain(*it, false);  // reaped: never signal its (reusable) pid
      if (it->trial && it->trial->cv_fold >= 0) finish_cv(*it->trial, false);
      else if (it->trial) finish(*it->trial, true, WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0);
      ::close(it->in);
      ::close(it->out);
      pool.erase(it);
    }
    if (now - last_elapsed_write >= 1000) {
      store.put("elapsed_s", format_double(study_clock()));
      last_elapsed_write = now;
      progress();
    }
  }
  // Idle workers exit when their input closes.
  for (auto& wk : pool) ::close(wk.in);
  for (auto& wk : pool) {
    ::waitpid(wk.pid, nullptr, 0);
    ::close(wk.out);
  }
  pool.clear();
  const double search_s = study_clock();
  store.put("elapsed_s", format_double(search_s));
  if (!o.quiet && tty) std::fprintf(stderr, "\r\033[K");

  // Outputs. The best trial by validation, unless the re-ranking compared at least two candidates
  // on every fold.
  const TrialRecord* best = best_of();
  if (!rerank_on)
    rr.skipped = s.h.rerank == "off"       ? "off"
                 : validation_rows < 0     ? "auto: the validation split's size is not known without the shared preprocessing"
                                           : "auto: the validation split has 2000 rows or more";
  else if (rr.candidates.empty() && rr.skipped.empty()) rr.skipped = "no time left for the folds of 2 trials";
  int complete = 0;
  for (int64_t id : rr.candidates)
    if (rr.complete(id)) {
      ++complete;
      if (rr.chosen < 0 || better(s.h, rr.mean(id), rr.mean(rr.chosen))) rr.chosen = id;
    }
  if (complete < 2) {
    rr.chosen = -1;
    if (!rr.candidates.empty()) rr.skipped = "the budget ended before 2 candidates finished every fold";
  }
  if (rr.chosen >= 0) best = &record_of(rr.chosen);
  const int64_t best_id = best ? best->id : -1;
  write_file_atomic(path_join(o.output_directory, "leaderboard.csv"), leaderboard_csv(s, trials));
  write_file_atomic(path_join(o.output_directory, "hyperopt_statistics.json"),
                    statistics_json(s, trials, search_s, workers, threads_per_trial, best_id, rr));
  write_file_atomic(path_join(path_join(o.output_directory, "reports"), "hyperopt_report.html"),
                    (make_dirs(path_join(o.output_directory, "reports")),
                     hyperopt_report_html(s.h, trials, best_id, budget, search_s, rr)));
  std::cout << leaderboard_text(s, trials, 10);  // the result, like evaluate's metrics
  if (!rr.candidates.empty()) {
    std::cout << "re-ranked on " << rr.folds << " folds of the training and validation rows:\n";
    char line[160];
    std::snprintf(line, sizeof line, "%6s %12s %12s\n", "trial", "validation", "fold mean");
    std::cout << line;
    for (int64_t id : rr.candidates) {
      const double m = rr.mean(id);
      std::snprintf(line, sizeof line, "%6lld %12s %12s%s\n", (long long)id,
                    format_double(std::round(record_of(id).metric * 1e4) / 1e4).c_str(),
                    std::isfinite(m) ? format_double(std::round(m * 1e4) / 1e4).c_str() : "-",
                    id == rr.chosen ? "  <- chosen" : "");
      std::cout << line;
    }
  }
  if (!best)
    throw ModelError("no trial completed an epoch within the budget of " + format_double(budget) +
                     "s; raise hyperopt.executor.time_budget_s (or --time_limit_s)");
  const std::string best_dir = path_join(trials_dir, "trial_" + std::to_string(best_id));
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
  {
    // The search never saw the test split; an empty one leaves test_statistics.json out.
    try {
      rc = run_evaluate(so);
    } catch (const DataError& e) {
      std::cerr << "kiln: note: " << e.what() << "\n";
    }
  }
  if (!o.quiet)
    std::fprintf(stderr, "kiln: best trial %lld: %s %s; %lld trials (%lld launched now) in %.1fs; best model in %s\n",
                 (long long)best_id, s.h.metric.c_str(), format_double(best->metric).c_str(),
                 (long long)trials.size(), (long long)launched_this_session, (now_ms() - t0) / 1000.0,
                 so.model_path.c_str());
  return rc;
}

}  // namespace kiln
