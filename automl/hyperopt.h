#pragma once
// kiln hyperopt / kiln automl: a study of trials under a hard time budget.
//
// One coordinating process samples each trial's parameters, writes the trial's config, and
// runs it in a worker process (this binary, `kiln _trial`), with the cores split between the
// concurrent workers. Workers report every epoch's validation metric on a pipe; the coordinator
// is the only writer of the trial store (SQLite), asks the scheduler whether each trial goes on,
// and stops trials with SIGTERM (they stop between batches and keep their best epoch). At the
// budget every worker is stopped, the best trial's model becomes <out>/best_model and is
// evaluated on the test split, which the search never sees.
#include <cstdint>
#include <string>

namespace kiln {

struct HyperoptOptions {
  std::string config_path;  // a config with a hyperopt block (errors name this file)
  std::string config_text;  // its text when it was generated (kiln automl); else read config_path
  std::string dataset;
  std::string output_directory = "results";
  int workers = 0;          // 0: executor.max_concurrent_trials, else cores / cpu_resources_per_trial
  int threads = 0;          // 0: all cores
  double time_limit_s = 0;  // > 0: overrides executor.time_budget_s
  bool resume = false, quiet = false, use_cache = true;
  std::string command_line;
};

// Returns the process exit code. A worker that dies is replaced (its trial fails), never the
// study; writes to its pipe never raise SIGPIPE (automl/worker_pool.h).
int run_hyperopt(const HyperoptOptions& o);
// The checks `kiln hyperopt` makes before it runs (the block, its metric and output feature, every
// parameter applying somewhere, sampled configs parsing), for `kiln config --validate`. Returns
// the number of parameters; throws ConfigError at the place of the first problem.
size_t check_hyperopt(const std::string& config_path);

// The worker side (`kiln _trial`): trains one trial's config, reporting each epoch and its end on
// stdout (automl/trial_protocol.h). With serve, trials come one per line on stdin and the process
// stays up between them.
struct TrialWorkerOptions {
  std::string config_path, dataset, output_directory, cache_dir;
  int threads = 1;
  int64_t deadline_ms = 0;  // steady clock (CLOCK_MONOTONIC, shared by processes); 0: none
  bool resume = false, use_cache = true;
  bool serve = false;  // run trials read from stdin, one per line, until it closes
  int cv_folds = 0, cv_fold = 0;  // a re-ranking run: fold cv_fold of cv_folds (TrainOptions)
  uint64_t cv_seed = 0;
};
int run_trial_worker(const TrialWorkerOptions& o);

}  // namespace kiln
