#include "features/numbers_output.h"

#include <torch/torch.h>

#include <cmath>

#include "util/strings.h"

namespace kiln {

PreparedBatch NumbersMetrics::prepare(const torch::Tensor& logits, const torch::Tensor& target,
                                      const torch::Tensor& row_losses) const {
  PreparedBatch p;
  p.a = logits.detach().to(torch::kFloat64).contiguous();
  p.b = target.detach().to(torch::kFloat64).contiguous();
  p.loss = row_losses.detach().reshape({-1}).to(torch::kFloat64).contiguous();
  p.rows = p.a.size(0);
  return p;
}

void NumbersMetrics::add(const PreparedBatch& p, const bool* mask) {
  const int64_t d = p.a.size(1);
  if (sum_y_.empty()) sum_y_.assign(d, 0), sum_y2_.assign(d, 0);
  const double* pred = p.a.data_ptr<double>();
  const double* y = p.b.data_ptr<double>();
  const double* l = p.loss.data_ptr<double>();
  for (int64_t i = 0; i < p.rows; ++i) {
    if (mask && !mask[i]) continue;
    ++n_, loss_ += l[i];
    double row_sae = 0, scale = 0;
    for (int64_t j = 0; j < d; ++j) {
      const double yv = y[i * d + j], e = pred[i * d + j] - yv;
      sse_ += e * e, row_sae += std::fabs(e);
      sum_y_[j] += yv, sum_y2_[j] += yv * yv;
      if (forecast_) {
        smape_ += 200.0 * std::fabs(e) / (std::fabs(yv) + std::fabs(pred[i * d + j]) + 1e-8);
        scale += d > 1 ? (j ? std::fabs(yv - y[i * d + j - 1]) : 0.0) : std::fabs(yv);
      }
    }
    sae_ += row_sae;
    if (forecast_) mase_ += (row_sae / d) / (scale / std::max<int64_t>(1, d - 1) + 1e-8);
  }
}

void NumbersMetrics::merge(const OutputMetrics& other) {
  const auto& o = dynamic_cast<const NumbersMetrics&>(other);
  if (sum_y_.empty()) sum_y_.assign(o.sum_y_.size(), 0), sum_y2_.assign(o.sum_y_.size(), 0);
  for (size_t j = 0; j < o.sum_y_.size(); ++j) sum_y_[j] += o.sum_y_[j], sum_y2_[j] += o.sum_y2_[j];
  n_ += o.n_, loss_ += o.loss_, sse_ += o.sse_, sae_ += o.sae_, smape_ += o.smape_, mase_ += o.mase_;
}

MetricValues NumbersMetrics::values() const {
  const double n = std::max<int64_t>(1, n_), cells = n * std::max<size_t>(1, sum_y_.size());
  double sst = 0;
  for (size_t j = 0; j < sum_y_.size(); ++j) sst += sum_y2_[j] - sum_y_[j] * sum_y_[j] / n;
  MetricValues v = {{"loss", loss_ / n},
                    {"mean_squared_error", sse_ / cells},
                    {"mean_absolute_error", sae_ / cells},
                    {"r2", sst > 0 ? 1 - sse_ / sst : 0.0}};
  if (forecast_) {
    v.push_back({"root_mean_squared_error", std::sqrt(sse_ / cells)});
    v.push_back({"mean_absolute_scaled_error", mase_ / n});
    v.push_back({"symmetric_mean_absolute_percentage_error", smape_ / cells});
  }
  return v;
}

LossResult NumbersOutput::loss(const FeatureConfig& f, const FeatureMetadata&, const torch::Tensor& logits,
                               const torch::Tensor& target) const {
  auto d = logits - target;
  torch::Tensor rows;
  if (f.loss.type == "mean_absolute_error") {
    rows = d.abs().mean(1);
  } else if (f.loss.type == "huber") {
    auto a = d.abs();
    const double delta = f.loss.delta;
    rows = torch::where(a <= delta, 0.5 * a.pow(2), delta * (a - 0.5 * delta)).mean(1);
  } else {
    rows = d.pow(2).mean(1);
  }
  return {rows.mean() * f.loss.weight, rows.sum().item<double>(), rows.detach()};
}

std::vector<PredictionColumn> NumbersOutput::predictions(const FeatureConfig& f, const FeatureMetadata&,
                                                         const torch::Tensor& logits) const {
  auto l = logits.to(torch::kFloat64).contiguous();
  const int64_t n = l.size(0), d = l.size(1);
  const double* v = l.data_ptr<double>();
  PredictionColumn col{f.name + "_predictions", {}};
  col.values.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    std::string s;
    for (int64_t j = 0; j < d; ++j) s += (j ? " " : "") + format_double(v[i * d + j]);
    col.values.push_back(std::move(s));
  }
  return {col};
}

}  // namespace kiln
