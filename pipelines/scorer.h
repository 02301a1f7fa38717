#pragma once
// A trained model loaded once, scoring tables: the one scoring path. `kiln predict` scores a file
// with it, `kiln serve` answers requests with it, and the embedding library (include/kiln/kiln.h)
// wraps it.
//
// Micro-batching: concurrent score() calls hand their encoded rows to one batching thread, which
// waits while other calls are still preprocessing (up to `timeout_us` after the first arrival, or
// until `max_rows` rows are waiting), runs one forward pass over all of them and gives each caller
// its own rows' outputs. A lone call runs at once, on its own thread. Preprocessing stays on the
// callers' threads, so the forward pass only sees tensors.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
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
#include "pipelines/preprocess.h"

namespace kiln {

struct Batching {
  int64_t max_rows = 64;     // rows gathered into one forward pass (a larger request runs alone; 1: none)
  int64_t timeout_us = 500;  // how long the first waiting request waits for company
  int64_t batch_size = 0;    // rows per forward pass of a large request; 0: the config's eval batch size
};

// A scored table: the encoded rows (with the table and its slice memberships), each output's
// logits in row order, and the prediction columns under Ludwig's names.
struct Scored {
  ScoringData data;
  std::map<std::string, torch::Tensor> logits;
  std::vector<PredictionColumn> columns;
  size_t rows() const { return static_cast<size_t>(data.rows.size(0)); }
};

class Scorer {
 public:
  // Throws ModelError naming the missing or corrupt file. threads 0: the config's trainer.threads,
  // else every core.
  Scorer(const std::string& model_path, int threads, Batching batching = {});
  ~Scorer();
  Scorer(const Scorer&) = delete;
  Scorer& operator=(const Scorer&) = delete;

  const LoadedModel& model() const { return lm_; }
  const std::string& model_path() const { return path_; }
  int threads() const { return threads_; }
  // The columns a row must give: one per input feature, in the config's order.
  const std::vector<std::string>& input_columns() const { return inputs_; }
  // The columns a table may add: those the model's slices read (kiln predict's reads them when
  // present; so may a request's).
  const std::vector<std::string>& slice_columns() const { return sliced_; }
  // The columns a request's table holds: the inputs (each required), then the slice columns the
  // request gives (so the model's slices count its rows; a slice without its columns is empty).
  std::vector<std::string> request_columns(const std::function<bool(const std::string&)>& given) const;
  // Scores every row of `t` (a request's table: preprocessed on the caller's thread, then
  // micro-batched). Thread-safe. Throws DataError naming the row and feature of a bad value.
  Scored score(std::shared_ptr<Table> t) const;
  // Scores a CSV / TSV / JSON Lines file with every thread (kiln predict).
  Scored score_file(const std::string& dataset) const;
  std::vector<PredictionColumn> predict(std::shared_ptr<Table> t) const { return score(std::move(t)).columns; }
  int64_t forward_passes() const { return passes_.load(); }
  int64_t last_batch_rows() const { return last_batch_rows_.load(); }

 private:
  using Logits = std::map<std::string, torch::Tensor>;
  struct Job {
    Batch columns;
    int64_t rows = 0;
    std::promise<Logits> result;
  };
  Logits forward(const Batch& columns, const LazyColumns& lazy, int64_t rows) const;
  Logits forward_locked(const Batch& columns, const LazyColumns& lazy, int64_t rows) const;  // holding forward_
  Scored finish(ScoringData d, Logits logits) const;
  void run_batches();

  std::string path_;
  LoadedModel lm_;
  int threads_;
  Batching batching_;
  std::vector<std::string> inputs_, sliced_;
  mutable std::atomic<int64_t> passes_{0}, last_batch_rows_{0};
  mutable std::mutex forward_;  // forward passes that bypass the batching thread take turns with it
  mutable std::mutex mu_;       // guards queue_, queued_rows_, preparing_, stop_
  mutable std::condition_variable cv_;
  mutable std::deque<std::shared_ptr<Job>> queue_;
  mutable int64_t queued_rows_ = 0;
  mutable int64_t preparing_ = 0;  // requests preprocessing now: a waiting batch waits for them
  bool stop_ = false;
  std::thread batcher_;
};

}  // namespace kiln
