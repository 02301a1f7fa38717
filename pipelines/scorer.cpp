#include "pipelines/scorer.h"

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "pipelines/pipelines.h"
#include "pipelines/preprocess.h"
#include "train/batcher.h"
#include "train/evaluate.h"
#include "util/parallel.h"

namespace kiln {

Scorer::Scorer(const std::string& model_path, int threads, Batching batching)
    : path_(model_path),
      lm_(load_model(model_path)),
      threads_(resolve_threads(threads, lm_.config.trainer.threads)),
      batching_(batching),
      inputs_(scoring_columns(lm_.config, false)),
      sliced_(kiln::slice_columns(lm_.config)) {
  if (batching_.batch_size <= 0)
    batching_.batch_size = lm_.config.trainer.eval_batch_size.value_or(std::max(lm_.config.trainer.batch_size, 512));
  lm_.model->eval();
  if (batching_.max_rows > 1) batcher_ = std::thread([this] { run_batches(); });
}

std::vector<std::string> Scorer::request_columns(
    const std::function<bool(const std::string&)>& given) const {
  std::vector<std::string> cols = inputs_;
  for (const auto& c : sliced_)
    if (std::find(cols.begin(), cols.end(), c) == cols.end() && given(c)) cols.push_back(c);
  return cols;
}

Scorer::~Scorer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (batcher_.joinable()) batcher_.join();
}

Scorer::Logits Scorer::forward(const Batch& columns, const LazyColumns& lazy, int64_t rows) const {
  std::lock_guard<std::mutex> lock(forward_);
  return forward_locked(columns, lazy, rows);
}

Scorer::Logits Scorer::forward_locked(const Batch& columns, const LazyColumns& lazy, int64_t rows) const {
  const ThreadScope scope(threads_);
  torch::InferenceMode inference;
  if (lazy.empty() && rows <= batching_.batch_size) {
    // One batch, its rows in order: the model reads the columns as they are (no gather).
    auto out = lm_.model->forward(columns);
    Logits logits;
    for (const auto& f : lm_.config.output_features) logits[f.name] = out.at(f.name);
    ++passes_;
    last_batch_rows_ = rows;
    return logits;
  }
  const int64_t batch = std::clamp<int64_t>(rows, 1, batching_.batch_size);
  Evaluation e = evaluate(*lm_.model, lm_.config, lm_.metadata, Batcher(columns, lazy),
                          torch::arange(rows, torch::kLong), static_cast<int>(batch), true, false);
  ++passes_;
  last_batch_rows_ = rows;
  return std::move(e.logits);
}

Scored Scorer::finish(ScoringData d, Logits logits) const {
  Scored s;
  for (const auto& f : lm_.config.output_features)
    for (auto& p : output_kind(f.type).predictions(f, lm_.metadata.at(f.name), logits.at(f.name)))
      s.columns.push_back(std::move(p));
  s.data = std::move(d);
  s.logits = std::move(logits);
  return s;
}

Scored Scorer::score_file(const std::string& dataset) const {
  ScoringData d = prepare_scoring_data(lm_.config, lm_.metadata, dataset, false, "full", threads_);
  Logits logits = forward(d.columns, d.lazy, d.rows.size(0));
  return finish(std::move(d), std::move(logits));
}

Scored Scorer::score(std::shared_ptr<Table> t) const {
  // While this request preprocesses, a waiting batch waits for it too (see run_batches).
  struct Preparing {
    const Scorer& s;
    bool counted;
    explicit Preparing(const Scorer& s) : s(s), counted(s.batcher_.joinable()) {
      if (!counted) return;
      std::lock_guard<std::mutex> lock(s.mu_);
      ++s.preparing_;
    }
    // Queues the job, if any, in the same step. The batching thread is woken only when a job
    // waits (every needless wake-up is a context switch on the request's path).
    void done(const std::shared_ptr<Job>& job = nullptr) {
      if (!counted) return;
      bool waiting;
      {
        std::lock_guard<std::mutex> lock(s.mu_);
        --s.preparing_;
        if (job) s.queue_.push_back(job), s.queued_rows_ += job->rows;
        waiting = !s.queue_.empty();
      }
      counted = false;
      if (waiting) s.cv_.notify_all();
    }
    ~Preparing() { done(); }
  } preparing(*this);
  // A large table is preprocessed with the scorer's threads; a request of a few rows on its own.
  const int threads = t->num_rows() >= 4096 ? threads_ : 1;
  ScoringData d = prepare_scoring_data(lm_.config, lm_.metadata, std::move(t), false, "full", threads);
  const int64_t rows = d.rows.size(0);  // every row: predict keeps all (no targets to drop)
  Logits logits;
  if (!batcher_.joinable() || !d.lazy.empty() || rows >= batching_.max_rows) {
    preparing.done();
    logits = forward(d.columns, d.lazy, rows);
  } else {
    // Alone (nobody else preprocessing or waiting, no pass running): run the pass on this thread
    // rather than hand it to the batching thread and wait to be woken (two context switches: at
    // one client 0.35 -> 0.27 ms per attrition request, at 64 clients 7,300 -> 9,600 requests/s).
    // Before, give the CPU to any other runnable thread: on a busy machine the requests that
    // arrived with this one may not have been read yet, and without the yield each request ran to
    // its end alone (27 forward passes for 32 simultaneous requests with another process on the
    // cores). A request that already sees company queues without yielding.
    auto looks_alone = [&] { return preparing_ == 1 && queue_.empty(); };  // under mu_
    std::unique_lock<std::mutex> alone(forward_, std::defer_lock);
    bool maybe;
    {
      std::lock_guard<std::mutex> lock(mu_);
      maybe = looks_alone();
    }
    if (maybe) {
      std::this_thread::yield();
      std::lock_guard<std::mutex> lock(mu_);
      if (looks_alone() && alone.try_lock()) {
        --preparing_;
        preparing.counted = false;
      }
    }
    if (alone.owns_lock()) {
      logits = forward_locked(d.columns, d.lazy, rows);
    } else {
      auto job = std::make_shared<Job>();
      job->columns = std::move(d.columns);
      job->rows = rows;
      std::future<Logits> result = job->result.get_future();
      preparing.done(job);
      logits = result.get();  // rethrows the forward pass's error
    }
  }
  return finish(std::move(d), std::move(logits));
}

void Scorer::run_batches() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    // Wait for company: while other requests are still preprocessing (they will join), until enough
    // rows wait or the first request has waited timeout_us. A lone request runs at once.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(batching_.timeout_us);
    cv_.wait_until(lock, deadline,
                   [&] { return stop_ || queued_rows_ >= batching_.max_rows || preparing_ == 0; });
    std::vector<std::shared_ptr<Job>> jobs;
    int64_t rows = 0;
    while (!queue_.empty() && (jobs.empty() || rows + queue_.front()->rows <= batching_.max_rows)) {
      jobs.push_back(queue_.front());
      rows += queue_.front()->rows;
      queued_rows_ -= queue_.front()->rows;
      queue_.pop_front();
    }
    lock.unlock();
    std::vector<Logits> results;
    try {
      Batch columns;
      for (const auto& [name, first] : jobs[0]->columns) {
        std::vector<torch::Tensor> parts;
        for (const auto& j : jobs) parts.push_back(j->columns.at(name));
        columns[name] = parts.size() == 1 ? first : torch::cat(parts, 0);
      }
      Logits all = forward(columns, {}, rows);
      int64_t offset = 0;
      for (const auto& j : jobs) {
        Logits mine;
        for (const auto& [name, l] : all) mine[name] = l.narrow(0, offset, j->rows);
        offset += j->rows;
        results.push_back(std::move(mine));
      }
    } catch (...) {
      for (const auto& j : jobs) j->result.set_exception(std::current_exception());
      results.clear();
    }
    for (size_t i = 0; i < results.size(); ++i) jobs[i]->result.set_value(std::move(results[i]));
    lock.lock();
  }
}

}  // namespace kiln
