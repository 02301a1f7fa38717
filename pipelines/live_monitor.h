#pragma once
// Monitoring of served traffic: `kiln serve` hands every scored request to a LiveMonitor, which
// gathers them into windows (every `window_rows` rows or `window_seconds` seconds, whichever comes
// first) and folds each window into the model's monitor store exactly as `kiln predict` folds a
// file (pipelines/observe.h: drift per input overall and per slice, prediction distributions per
// slice), as a run with command "serve". Optionally every row's inputs and predictions are
// appended to a JSON Lines log, rotated by size, to be joined with labels later.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pipelines/observe.h"
#include "pipelines/scorer.h"

namespace kiln {

struct LiveMonitorOptions {
  int64_t window_rows = 1000;    // a window closes after this many rows...
  double window_seconds = 60;    // ...or this long after its first row
  std::string log_path;          // --log_predictions: JSON Lines of inputs + predictions ("" none)
  int64_t log_max_bytes = 100ll << 20;  // the log is rotated (F → F.1 → ... F.5) past this size
  int log_keep = 5;
};

class LiveMonitor {
 public:
  LiveMonitor(const Scorer& scorer, LiveMonitorOptions o);
  ~LiveMonitor();  // flushes the open window
  LiveMonitor(const LiveMonitor&) = delete;
  LiveMonitor& operator=(const LiveMonitor&) = delete;

  // A scored request (thread-safe; cheap: the window is folded on the monitor's own thread).
  void record(const Scored& s);
  // Closes the open window now (at shutdown); returns once it is in the store.
  void flush();

  struct Status {
    int64_t windows = 0;                       // windows written to the store
    double drift_share = 0;                    // of the last window, all rows
    std::map<std::string, double> slice_drift_share;
    std::string last_error;                    // a window that could not be written
  };
  Status status() const;

 private:
  struct Window {
    // The requests' tables and their scored rows, in order (copied into one table when folded, on
    // the monitor's thread).
    std::vector<std::pair<std::shared_ptr<const Table>, torch::Tensor>> parts;
    std::map<std::string, std::vector<uint8_t>> slices;  // slice name → membership per row
    std::map<std::string, std::vector<torch::Tensor>> logits;  // per output, one part per request
    int64_t rows = 0;
    std::string started;  // ISO time of the first row
  };
  void run();
  void fold(Window w);
  // Adds the monitored cells (columns_) of `rows` of `t` to `b`; an uploaded file is left empty.
  void add_monitored_cells(TableBuilder& b, const Table& t, const int64_t* rows, int64_t n) const;
  void log_rows(const Scored& s);

  const Scorer& scorer_;
  LiveMonitorOptions o_;
  const bool logging_;  // --log_predictions given
  std::vector<std::string> columns_;  // inputs, then slice columns
  std::unique_ptr<DriftReference> ref_;
  mutable std::mutex mu_;  // guards window_, status_, flush requests
  std::condition_variable cv_, flushed_;
  Window window_;
  std::chrono::steady_clock::time_point window_start_;
  int64_t flush_requested_ = 0, flush_done_ = 0;
  bool stop_ = false;
  Status status_;
  std::mutex log_mu_;  // guards log_, log_bytes_
  std::FILE* log_ = nullptr;
  int64_t log_bytes_ = 0;
  std::thread thread_;
};

}  // namespace kiln
