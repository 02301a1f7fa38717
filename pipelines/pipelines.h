#pragma once
// The commands' pipelines: train / experiment (read → split → fit → encode → train → evaluate →
// store) and evaluate / predict (load → encode → forward → postprocess → write).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace kiln {

struct TrainOptions {
  std::string config_path;
  std::string dataset;
  std::string output_directory = "results";
  bool resume = false;
  // A model directory that holds a trained model or an unfinished run is refused unless resume
  // (continue it) or overwrite (replace it: the model directory and the run's files are removed).
  bool overwrite = false;
  std::optional<int> random_seed;
  std::optional<int> epochs;  // overrides trainer.epochs (and train_steps)
  int threads = 0;  // 0: config's trainer.threads, else all cores
  bool quiet = false;
  bool use_cache = true;
  std::string cache_dir;  // empty: default_cache_dir()
  bool require_validation = false;  // hyperopt trials compare validation metrics
  bool keep_prepared = false;       // hyperopt workers: reuse preprocessed data across trials
  bool hide_test = false;           // hyperopt trials: the search never sees the test split
  // Hyperopt's re-ranking: with cv_folds > 1, the training and validation rows are pooled and
  // fold cv_fold of a k-fold split (data/split.h kfold_rows, seeded by cv_seed, stratified by a
  // binary or category target) becomes the validation split. The test split is not touched.
  int cv_folds = 0, cv_fold = 0;
  uint64_t cv_seed = 0;
  std::string command_line;
  // Hyperopt trials: stop between batches / after an epoch (see TrainRun), and read the outcome.
  std::function<bool()> should_stop;
  std::function<bool(int epoch, double value, double eval_seconds)> on_epoch;
  struct Outcome {
    int epochs = 0, best_epoch = 0;
    double best_value = 0, seconds = 0;
    bool interrupted = false, cache_hit = false;
  };
  Outcome* outcome = nullptr;
};

struct ScoreOptions {
  std::string model_path;  // <output_directory>/model
  std::string dataset;
  std::string output_directory;  // default: the model directory's parent
  std::string split = "full";    // evaluate: full | training | validation | test
  int threads = 0;
  int batch_size = 0;  // 0: the config's eval batch size
  bool quiet = false;
  bool fail_on_gate = false;  // evaluate: exit 5 when a slices.gates entry fails
};

struct FindSlicesOptions {
  std::string model_path, dataset, output, output_feature;
  int k = 10, max_level = 3, threads = 0;
  int64_t min_support = 32;
  double alpha = 0.95;
  bool quiet = false;
};

struct ServeOptions {
  std::string model_path;
  std::string host = "127.0.0.1";
  int port = 8000;           // 0: any free port (printed on start)
  int threads = 0;           // forward-pass threads; 0: all cores
  // Connections served at once: cpp-httplib gives each open (keep-alive) connection a thread, which
  // also preprocesses its requests' rows; more clients than this wait for a free thread.
  int http_threads = 128;
  int64_t max_batch_size = 64;    // rows gathered from concurrent requests into one forward pass (1: none)
  int64_t batch_timeout_us = 500; // how long a request waits for others to join its forward pass
  double max_body_mb = 16;   // larger bodies get 413
  int64_t max_rows = 100000; // rows per /batch_predict request
  double read_timeout_s = 10;  // a client that sends nothing for this long is disconnected
  // Live monitoring: windows of served rows go to the model's monitor store (pipelines/live_monitor.h).
  int64_t monitor_rows = 1000;
  double monitor_seconds = 60;
  std::string log_predictions;  // JSON Lines of every row's inputs and predictions ("" none)
  double log_max_mb = 100;      // rotated past this size
};

// Returns the process exit code.
int run_train(const TrainOptions& o, bool then_evaluate_test);
int run_evaluate(const ScoreOptions& o);
int run_predict(const ScoreOptions& o);
int run_find_slices(const FindSlicesOptions& o);
int run_serve(const ServeOptions& o);  // until SIGINT / SIGTERM

// Thread count actually used: explicit > config > cores.
int resolve_threads(int requested, int config_threads);

}  // namespace kiln
