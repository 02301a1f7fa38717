// anomaly (Ludwig's output type, Deep One-Class Classification): the decoder scores each row by
// its squared distance to a center (decoders/anomaly.cpp); the label column is optional
// supervision: 1 an anomaly, 0 normal, -1 or empty unlabeled. deep_svdd and drocc ignore the
// labels; deep_sad pushes labeled anomalies away from the center. Metrics over the labeled rows:
// roc_auc of the score, and at the decision threshold accuracy, precision, recall and f1.
// threshold: auto (default) is the threshold_percentile-th percentile of the validation rows'
// scores (the training rows' without a validation split), set after training and kept in the
// feature's metadata; a number is used as given.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "config/schema.h"
#include "data/synthesize.h"
#include "features/feature.h"
#include "util/error.h"
#include "util/strings.h"

namespace kiln {
namespace {

struct AnomalyPreprocessing : Options<AnomalyPreprocessing> {
  template <class V>
  void visit(V&) {}
};

// The label of a cell: 1, 0 or -1 (also true/false spellings; empty is -1). nullopt: not a label.
std::optional<float> anomaly_label(std::string_view raw) {
  std::string s = to_lower(trim(raw));
  if (s.empty() || s == "-1" || s == "-1.0" || s == "nan") return -1.0f;
  if (s == "1" || s == "1.0" || s == "true" || s == "yes" || s == "anomaly") return 1.0f;
  if (s == "0" || s == "0.0" || s == "false" || s == "no" || s == "normal") return 0.0f;
  return std::nullopt;
}

// The threshold in use: the config's number, else the one training set (NaN before).
double threshold_of(const FeatureConfig& f, const FeatureMetadata& m) {
  if (f.anomaly_threshold != "auto") return std::strtod(f.anomaly_threshold.c_str(), nullptr);
  return m.score_threshold;
}

// Labeled rows go to a BinaryMetrics over the score mapped to s / (s + t) (at least 0.5 exactly
// when s >= t; the order, hence roc_auc, unchanged); the loss counts every row.
class AnomalyMetrics : public OutputMetrics {
 public:
  explicit AnomalyMetrics(double threshold)
      : threshold_(threshold), labeled_(std::isfinite(threshold) ? 0.5 : 2.0, {"normal", "anomaly"}) {}
  PreparedBatch prepare(const torch::Tensor& logits, const torch::Tensor& target,
                        const torch::Tensor& row_losses) const override {
    PreparedBatch p;
    auto s = logits.detach().reshape({-1}).to(torch::kFloat64).clamp_min(0);
    const double t = std::isfinite(threshold_) && threshold_ > 0 ? threshold_ : 1.0;
    p.a = (s / (s + t)).to(torch::kFloat32).contiguous();
    if (std::isfinite(threshold_) && threshold_ == 0) p.a = torch::ones_like(p.a);  // every score >= 0
    p.b = target.detach().reshape({-1}).to(torch::kFloat32).contiguous();
    p.loss = row_losses.defined() && row_losses.numel() == p.a.numel()
                 ? row_losses.detach().reshape({-1}).to(torch::kFloat64).contiguous()
                 : torch::zeros({p.a.size(0)}, torch::kFloat64);
    p.rows = p.a.size(0);
    return p;
  }
  void add(const PreparedBatch& p, const bool* mask) override {
    const float* y = p.b.data_ptr<float>();
    const double* l = p.loss.data_ptr<double>();
    std::vector<uint8_t> labeled(static_cast<size_t>(p.rows));
    for (int64_t i = 0; i < p.rows; ++i) {
      if (mask && !mask[i]) continue;
      labeled[static_cast<size_t>(i)] = y[i] >= 0;
      loss_ += l[i];
      ++rows_;
    }
    labeled_.add(p, reinterpret_cast<const bool*>(labeled.data()));
  }
  void merge(const OutputMetrics& other) override {
    const auto& o = dynamic_cast<const AnomalyMetrics&>(other);
    loss_ += o.loss_, rows_ += o.rows_;
    labeled_.merge(o.labeled_);
  }
  MetricValues values() const override {
    MetricValues v = {{"loss", rows_ ? loss_ / static_cast<double>(rows_) : 0.0}, {"roc_auc", labeled_.roc_auc()}};
    if (std::isfinite(threshold_)) {
      const double p = labeled_.value("precision"), r = labeled_.value("recall");
      v.push_back({"accuracy", labeled_.value("accuracy")});
      v.push_back({"precision", p});
      v.push_back({"recall", r});
      v.push_back({"f1", p + r > 0 ? 2 * p * r / (p + r) : 0.0});
    }
    return v;
  }
  void write_details(JsonWriter& w) const override {
    if (std::isfinite(threshold_)) {
      w.Key("threshold");
      json_double(w, threshold_);
    }
    labeled_.write_details(w);
  }
  std::unique_ptr<OutputMetrics> empty_copy() const override { return std::make_unique<AnomalyMetrics>(threshold_); }
  int64_t count() const override { return rows_; }
  void finalize() override { labeled_.finalize(); }
  void reserve(int64_t rows) override { labeled_.reserve(rows); }

 private:
  double threshold_;
  BinaryMetrics labeled_;
  double loss_ = 0;
  int64_t rows_ = 0;
};

class AnomalyKind : public FeatureKind, public OutputKind {
 public:
  std::string synthesize(const FeatureConfig&, Synthesis& s, int64_t) const override {
    return s.pick(10) == 0 ? "1" : "0";  // one row in ten an anomaly
  }
  unsigned metadata_fields() const override { return metadata_fields::score_threshold; }
  const OutputKind* output() const override { return this; }
  FeatureMetadata fit(const FeatureConfig& f, const Table& t, const Column& c,
                      const std::vector<int64_t>& rows) const override {
    FeatureMetadata m;
    m.name = f.name, m.type = "anomaly";
    m.training_rows = static_cast<int64_t>(rows.size());
    for (int64_t r : rows)
      if (Table::missing(c, r)) ++m.training_missing;
    return m;
  }
  torch::Tensor encode(const FeatureConfig& f, const FeatureMetadata&, const Table& t,
                       const Column& c) const override {
    const int64_t n = static_cast<int64_t>(t.num_rows());
    auto out = torch::empty({n}, torch::kFloat32);
    float* o = out.data_ptr<float>();
    for (int64_t r = 0; r < n; ++r) {
      if (Table::missing(c, r)) {
        o[r] = -1;
        continue;
      }
      auto v = anomaly_label(t.cell(c, r));
      if (!v)
        throw DataError(t.where(r) + ": column '" + c.name + "': '" + std::string(trim(t.cell(c, r))) +
                        "' is not an anomaly label of output '" + f.name +
                        "' (expected 1 for an anomaly, 0 for normal, -1 or empty for unlabeled)");
      o[r] = *v;
    }
    return out;
  }
  // Missing labels are unlabeled rows, kept.
  void mark_dropped(const FeatureConfig&, const Table&, const Column&, std::vector<uint8_t>&) const override {}

  int64_t output_size(const FeatureConfig&, const FeatureMetadata&) const override { return 1; }

  LossResult loss(const FeatureConfig& f, const FeatureMetadata&, const torch::Tensor& logits,
                  const torch::Tensor& target) const override {
    auto d = logits.reshape({-1}).to(torch::kFloat32);
    auto y = target.reshape({-1});
    torch::Tensor rows;
    if (f.loss.type == "deep_sad") {  // labeled anomalies pushed away, every other row pulled in
      auto anomalous = (y == 1).to(d.dtype());
      rows = d * (1 - anomalous) + f.loss.eta / (d + 1e-6) * anomalous;
    } else if (f.loss.type == "drocc") {  // Ludwig's: the distance, plus a hinge against perturbed scores
      torch::Tensor perturbed;
      {
        torch::NoGradGuard g;
        auto scale = f.loss.perturbation_strength * (d.size(0) > 1 ? d.std() : torch::zeros({})).clamp_min(1e-6);
        perturbed = d.detach() + scale * torch::randn_like(d);
      }
      rows = d + f.loss.perturbation_strength * (d - perturbed).clamp_min(0);
    } else if (f.loss.nu > 0) {  // deep_svdd, soft boundary: radius R the (1 - nu) quantile of the batch
      auto radius = torch::quantile(d.detach(), 1.0 - f.loss.nu).clamp_min(0);
      rows = radius + (1.0 / f.loss.nu) * (d - radius).clamp_min(0);
    } else {  // deep_svdd, hard boundary
      rows = d;
    }
    return {rows.mean() * f.loss.weight, rows.sum().item<double>(), rows.detach()};
  }

  std::unique_ptr<OutputMetrics> metrics(const FeatureConfig& f, const FeatureMetadata& m) const override {
    return std::make_unique<AnomalyMetrics>(threshold_of(f, m));
  }

  std::vector<PredictionColumn> predictions(const FeatureConfig& f, const FeatureMetadata& m,
                                            const torch::Tensor& logits) const override {
    auto s = logits.reshape({-1}).to(torch::kFloat64).contiguous();
    const double* d = s.data_ptr<double>();
    const double t = threshold_of(f, m);
    std::vector<PredictionColumn> cols = {{f.name + "_predictions", {}}, {f.name + "_anomaly_score", {}, true}};
    for (int64_t i = 0; i < s.size(0); ++i) {
      cols[0].values.push_back(std::isfinite(t) && d[i] >= t ? "1" : "0");
      cols[1].values.push_back(format_double(d[i]));
    }
    return cols;
  }

  MetricValues prediction_summary(const FeatureConfig& f, const FeatureMetadata& m,
                                  const torch::Tensor& logits) const override {
    const double t = threshold_of(f, m);
    MetricValues v = {{"mean_anomaly_score", logits.mean().item<double>()}};
    if (std::isfinite(t)) v.push_back({"anomaly_rate", (logits >= t).to(torch::kFloat64).mean().item<double>()});
    return v;
  }
  // Slice finding: how anomalous a row looks (its score's share of the largest in the rows).
  torch::Tensor row_errors(const FeatureConfig&, const torch::Tensor& logits, const torch::Tensor&) const override {
    auto s = logits.reshape({-1}).to(torch::kFloat64).clamp_min(0);
    return s / s.max().clamp_min(1e-12);
  }

  bool calibrates(const FeatureConfig& f) const override { return f.anomaly_threshold == "auto"; }
  void calibrate(const FeatureConfig& f, FeatureMetadata& m, const torch::Tensor& logits) const override {
    auto s = logits.reshape({-1}).to(torch::kFloat64);
    m.score_threshold = torch::quantile(s, f.threshold_percentile / 100.0).item<double>();
  }
};

}  // namespace

void register_anomaly_feature() {
  FeatureSchema s;
  s.doc = "output only: anomaly score of each row (Deep SVDD / Deep SAD / DROCC); labels 1, 0, or -1/empty "
          "for unlabeled";
  s.can_input = false;
  s.make_preprocessing = [](bool) { return std::make_shared<AnomalyPreprocessing>(); };
  s.default_decoder = "anomaly";
  s.default_loss = "deep_svdd";
  s.losses = {"deep_svdd", "deep_sad", "drocc"};
  s.metrics = {"loss", "roc_auc", "accuracy", "precision", "recall", "f1"};
  s.default_metric = "loss";
  s.output_score_threshold = true;
  register_feature_type("anomaly", std::move(s), std::make_shared<AnomalyKind>());
}

}  // namespace kiln
