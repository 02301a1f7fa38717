#pragma once
// The output side shared by the types whose target is a row of numbers of one length (vector,
// timeseries): the projector predicts every value at once, the loss is averaged over the values,
// and the prediction column writes the values space-separated (the input format). Forecasts
// (timeseries) also report Ludwig's forecasting metrics.
#include "features/feature.h"

namespace kiln {

// Errors over every value of every row; r2 against each position's mean. With `forecast`, also
// root_mean_squared_error, symmetric_mean_absolute_percentage_error (per value, in percent) and
// mean_absolute_scaled_error (each row's MAE over the mean absolute step of its own target, as
// Ludwig's; the row's mean |target| when the horizon is one step).
class NumbersMetrics : public OutputMetrics {
 public:
  explicit NumbersMetrics(bool forecast) : forecast_(forecast) {}
  PreparedBatch prepare(const torch::Tensor& logits, const torch::Tensor& target,
                        const torch::Tensor& row_losses) const override;
  void add(const PreparedBatch& p, const bool* mask) override;
  void merge(const OutputMetrics& other) override;
  MetricValues values() const override;
  std::unique_ptr<OutputMetrics> empty_copy() const override { return std::make_unique<NumbersMetrics>(forecast_); }
  int64_t count() const override { return n_; }

 private:
  bool forecast_;
  int64_t n_ = 0;
  double loss_ = 0, sse_ = 0, sae_ = 0, smape_ = 0, mase_ = 0;
  std::vector<double> sum_y_, sum_y2_;
};

class NumbersOutput : public OutputKind {
 public:
  explicit NumbersOutput(bool forecast) : forecast_(forecast) {}
  int64_t output_size(const FeatureConfig&, const FeatureMetadata& m) const override { return m.sequence_length; }
  // mean_squared_error (default), mean_absolute_error or huber, each averaged over the row's values.
  LossResult loss(const FeatureConfig& f, const FeatureMetadata& m, const torch::Tensor& logits,
                  const torch::Tensor& target) const override;
  std::unique_ptr<OutputMetrics> metrics(const FeatureConfig&, const FeatureMetadata&) const override {
    return std::make_unique<NumbersMetrics>(forecast_);
  }
  // <name>_predictions: the predicted values, space-separated.
  std::vector<PredictionColumn> predictions(const FeatureConfig& f, const FeatureMetadata& m,
                                            const torch::Tensor& logits) const override;

 private:
  bool forecast_;
};

}  // namespace kiln
