#pragma once
// A trained model loaded once and scoring tables in memory: what `kiln serve` answers requests
// with (and, next, the embedding library). Same preprocessing, forward pass and prediction
// columns as `kiln predict`.
//
// Micro-batching: concurrent predict() calls hand their encoded rows to one batching thread, which
// waits up to `timeout_us` after the first arrival (or until `max_rows` rows are waiting), runs one
// forward pass over all of them and gives each caller its own rows' outputs. Preprocessing stays on
// the callers' threads, so the forward pass only sees tensors.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "data/table.h"
#include "features/feature.h"
#include "model/batch.h"
#include "pipelines/model_store.h"

namespace kiln {

struct Batching {
  int64_t max_rows = 64;     // rows in one forward pass (a larger request runs alone)
  int64_t timeout_us = 500;  // how long the first waiting request waits for company
};

class Scorer {
 public:
  // Throws ModelError naming the missing or corrupt file.
  Scorer(const std::string& model_path, int threads, Batching batching = {});
  ~Scorer();
  Scorer(const Scorer&) = delete;
  Scorer& operator=(const Scorer&) = delete;

  const LoadedModel& model() const { return lm_; }
  const std::string& model_path() const { return path_; }
  // The columns a row must give: one per input feature, in the config's order.
  const std::vector<std::string>& input_columns() const { return inputs_; }
  // The prediction columns of every row of `t` (Ludwig's names, row order). Thread-safe. Throws
  // DataError naming the row and feature of a bad value.
  std::vector<PredictionColumn> predict(std::shared_ptr<Table> t) const;
  int64_t forward_passes() const { return passes_.load(); }

 private:
  using Logits = std::map<std::string, torch::Tensor>;
  struct Job {
    Batch columns;
    int64_t rows = 0;
    std::promise<Logits> result;
  };
  Logits forward(const Batch& columns, const LazyColumns& lazy, int64_t rows) const;
  void run_batches();

  std::string path_;
  LoadedModel lm_;
  int threads_;
  Batching batching_;
  std::vector<std::string> inputs_;
  mutable std::atomic<int64_t> passes_{0};
  mutable std::mutex forward_;  // forward passes that bypass the batching thread take turns with it
  mutable std::mutex mu_;       // guards queue_, queued_rows_, stop_
  mutable std::condition_variable cv_;
  mutable std::deque<std::shared_ptr<Job>> queue_;
  mutable int64_t queued_rows_ = 0;
  bool stop_ = false;
  std::thread batcher_;
};

}  // namespace kiln
