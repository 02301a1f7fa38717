// The worker side of hyperopt (`kiln _trial`): trains the trials its coordinator sends, reporting
// on stdout in the protocol of automl/trial_protocol.h.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <c10/util/Exception.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>

#include "automl/hyperopt.h"
#include "automl/trial_protocol.h"
#include "pipelines/pipelines.h"
#include "util/fs.h"
#include "util/clock.h"
#include "util/strings.h"

namespace kiln {
namespace {

std::atomic<int> g_stop_requested{0};
void on_term(int) { g_stop_requested = 1; }

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
    std::fputs(format_report(EpochReport{epoch, value, eval_seconds}).c_str(), stdout);
    std::fflush(stdout);
    return !g_stop_requested.load() && !(deadline > 0 && now_ms() >= deadline);
  };
  TrainOptions::Outcome out;
  t.outcome = &out;
  run_train(t, false);
  EndReport end;
  end.epochs = out.epochs;
  end.best_epoch = out.best_epoch;
  end.best_value = out.best_epoch > 0 ? out.best_value : std::nan("");
  end.interrupted = out.interrupted;
  end.seconds = out.seconds;
  std::fputs(format_report(end).c_str(), stdout);
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
  // Serve: one trial per line (automl/trial_protocol.h); each trial's stderr goes to
  // <output_directory>/train.log; a failure is reported and the loop goes on.
  const int saved_stderr = ::dup(2);
  std::string line;
  while (std::getline(std::cin, line)) {
    const auto cmd = parse_command(line);
    if (!cmd) continue;
    TrialWorkerOptions one = o;
    one.config_path = cmd->config_path;
    one.output_directory = cmd->output_directory;
    one.deadline_ms = cmd->deadline_ms;
    one.resume = cmd->resume;
    one.cv_folds = cmd->cv_folds;
    one.cv_fold = cmd->cv_fold;
    one.cv_seed = cmd->cv_seed;
    make_dirs(one.output_directory);
    int log = ::open(path_join(one.output_directory, "train.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log >= 0) ::dup2(log, 2), ::close(log);
    try {
      run_one_trial(one);
    } catch (const std::exception& e) {
      std::string msg = e.what();
      if (auto* c = dynamic_cast<const c10::Error*>(&e)) msg = c->what_without_backtrace();
      std::fprintf(stderr, "error: %s\n", msg.substr(0, msg.find('\n')).c_str());
      std::fputs(format_report(FailedReport{}).c_str(), stdout);
      std::fflush(stdout);
    }
    std::fflush(stderr);
    ::dup2(saved_stderr, 2);
  }
  return 0;
}

}  // namespace kiln
