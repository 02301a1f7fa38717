#pragma once
// Mergeable metric accumulators (counts, confusion matrices, sums, scores): tensors in, numbers
// out. Metric names are Ludwig's.
#include <torch/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "util/json.h"

namespace kiln {

using MetricValues = std::vector<std::pair<std::string, double>>;

// A batch turned once into per-row values (probabilities, predictions, hits, losses) that any
// number of accumulators then add, each for the rows of its own mask (the overall metrics and
// every slice share one pass).
struct PreparedBatch {
  torch::Tensor a, b, c;  // type-specific per-row columns, contiguous
  torch::Tensor loss;     // per-row loss, float64
  int64_t rows = 0;
};

class OutputMetrics {
 public:
  virtual ~OutputMetrics() = default;
  virtual PreparedBatch prepare(const torch::Tensor& logits, const torch::Tensor& target,
                                const torch::Tensor& row_losses) const = 0;
  // Adds the rows whose mask byte is non-zero (all rows when mask is null).
  virtual void add(const PreparedBatch& p, const bool* mask) = 0;
  // prepare + add for a whole batch; `loss_sum` stands for the per-row losses' sum.
  void update(const torch::Tensor& logits, const torch::Tensor& target, double loss_sum);
  virtual void merge(const OutputMetrics& other) = 0;
  virtual MetricValues values() const = 0;  // "loss" first
  // Confusion matrix, per-class statistics, curves: test_statistics.json only.
  virtual void write_details(JsonWriter& /*w*/) const {}
  virtual std::unique_ptr<OutputMetrics> empty_copy() const = 0;
  double value(const std::string& name) const;
  // Rows counted, and rows predicted right (for confidence intervals of accuracy); -1 if the
  // output has no accuracy.
  virtual int64_t count() const = 0;
  virtual int64_t correct() const { return -1; }
  // Heavy one-off work before values() is read (sorting scores); safe to run on several
  // accumulators in parallel.
  virtual void finalize() {}
  virtual void reserve(int64_t /*rows*/) {}
};

// Number outputs; predictions and targets are mapped back to original units (x * scale + shift).
class NumberMetrics : public OutputMetrics {
 public:
  NumberMetrics(double scale, double shift) : scale_(scale), shift_(shift) {}
  PreparedBatch prepare(const torch::Tensor& logits, const torch::Tensor& target,
                        const torch::Tensor& row_losses) const override;
  void add(const PreparedBatch& p, const bool* mask) override;
  void merge(const OutputMetrics& other) override;
  MetricValues values() const override;
  std::unique_ptr<OutputMetrics> empty_copy() const override {
    return std::make_unique<NumberMetrics>(scale_, shift_);
  }
  int64_t count() const override { return static_cast<int64_t>(n_); }

 private:
  double scale_, shift_;
  double n_ = 0, sse_ = 0, sae_ = 0, sum_y_ = 0, sum_y2_ = 0, loss_ = 0;
};

class BinaryMetrics : public OutputMetrics {
 public:
  BinaryMetrics(double threshold, std::vector<std::string> labels)
      : threshold_(threshold), labels_(std::move(labels)) {}
  PreparedBatch prepare(const torch::Tensor& logits, const torch::Tensor& target,
                        const torch::Tensor& row_losses) const override;
  void add(const PreparedBatch& p, const bool* mask) override;
  void merge(const OutputMetrics& other) override;
  MetricValues values() const override;
  void write_details(JsonWriter& w) const override;
  std::unique_ptr<OutputMetrics> empty_copy() const override {
    return std::make_unique<BinaryMetrics>(threshold_, labels_);
  }
  int64_t count() const override { return tp_ + fp_ + tn_ + fn_; }
  int64_t correct() const override { return tp_ + tn_; }
  void finalize() override { sort_scores(); }
  void reserve(int64_t rows) override { scores_.reserve(static_cast<size_t>(rows)); }
  double roc_auc() const;

 private:
  double threshold_;
  std::vector<std::string> labels_;  // {false label, true label}
  int64_t tp_ = 0, fp_ = 0, tn_ = 0, fn_ = 0;
  double loss_ = 0;
  mutable std::vector<std::pair<float, uint8_t>> scores_;
  mutable bool sorted_ = true;  // scores_ ascending by score (sorted lazily, once)
  mutable bool auc_valid_ = false;  // roc_auc computed since the last add/merge
  mutable double auc_ = 0;
  void sort_scores() const;
};

// Category outputs. Targets < 0 are labels unseen in training: they count as wrong.
class CategoryMetrics : public OutputMetrics {
 public:
  CategoryMetrics(std::vector<std::string> labels, int top_k)
      : labels_(std::move(labels)), top_k_(top_k),
        confusion_(labels_.size() * labels_.size(), 0) {}
  PreparedBatch prepare(const torch::Tensor& logits, const torch::Tensor& target,
                        const torch::Tensor& row_losses) const override;
  void add(const PreparedBatch& p, const bool* mask) override;
  void merge(const OutputMetrics& other) override;
  MetricValues values() const override;
  void write_details(JsonWriter& w) const override;
  std::unique_ptr<OutputMetrics> empty_copy() const override {
    return std::make_unique<CategoryMetrics>(labels_, top_k_);
  }
  int64_t count() const override { return n_; }
  int64_t correct() const override { return correct_; }

 private:
  std::vector<std::string> labels_;
  int top_k_;
  std::vector<int64_t> confusion_;  // [true][predicted]
  int64_t n_ = 0, correct_ = 0, hits_ = 0, unseen_ = 0;
  double loss_ = 0;
};

}  // namespace kiln
