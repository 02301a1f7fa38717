// binary: 0/1 per row. Values are read as booleans through the usual spellings, or against
// preprocessing.fallback_true_label; the two labels seen in training are kept for predictions.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <set>
#include <unordered_map>

#include "config/schema.h"
#include "data/synthesize.h"
#include "features/feature.h"
#include "util/error.h"
#include "util/strings.h"

namespace kiln {
namespace {

struct BinaryPreprocessing : Options<BinaryPreprocessing> {
  std::string missing_value_strategy = "fill_with_false";
  std::optional<std::string> fill_value;
  std::optional<std::string> fallback_true_label;
  template <class V>
  void visit(V& v) {
    v("missing_value_strategy", missing_value_strategy, "how missing values are filled",
      one_of({"fill_with_false", "fill_with_true", "fill_with_const", "fill_with_mode", "bfill", "ffill",
              "drop_row"}));
    v("fill_value", fill_value, "fill_with_const: the value");
    v("fallback_true_label", fallback_true_label,
      "the value read as true when values are not boolean spellings");
  }
  std::vector<std::string> problems() const override {
    if (missing_value_strategy == "fill_with_const" && !fill_value)
      return {"fill_value: fill_with_const needs a fill_value"};
    return {};
  }
};

// 1 true spelling, 0 false spelling, -1 neither.
int spelled_bool(std::string_view raw) {
  static const std::set<std::string> t = {"true", "yes", "y", "t", "1", "1.0", "on", "positive"};
  static const std::set<std::string> f = {"false", "no", "n", "f", "0", "0.0", "off", "negative"};
  std::string s = to_lower(trim(raw));
  if (t.count(s)) return 1;
  if (f.count(s)) return 0;
  return -1;
}

class BinaryKind : public FeatureKind, public OutputKind {
 public:
  std::string synthesize(const FeatureConfig&, Synthesis& s, int64_t) const override {
    return s.pick(2) ? "true" : "false";
  }
  unsigned metadata_fields() const override { return metadata_fields::vocabulary | metadata_fields::labels; }
  const OutputKind* output() const override { return this; }
  FeatureMetadata fit(const FeatureConfig& f, const Table& t, const Column& c,
                      const std::vector<int64_t>& rows) const override {
    const auto& p = f.prep<BinaryPreprocessing>();
    FeatureMetadata m;
    m.name = f.name, m.type = "binary";
    std::unordered_map<std::string_view, int64_t> by_view;  // no allocation per cell
    for (size_t i = 0; i < rows.size(); ++i) {
      const int64_t r = rows[i];
      if (i + Table::kPrefetchAhead < rows.size()) t.prefetch(c, rows[i + Table::kPrefetchAhead]);
      if (Table::missing(c, r)) {
        ++m.training_missing;
        continue;
      }
      by_view[trim(t.cell(c, r))]++;
    }
    std::map<std::string, int64_t> counts;
    for (const auto& [v, n] : by_view) counts[std::string(v)] += n;
    m.training_rows = static_cast<int64_t>(rows.size());
    bool all_spelled = true;
    for (const auto& [v, n] : counts) all_spelled = all_spelled && spelled_bool(v) >= 0;
    if (!p.fallback_true_label && !all_spelled) {
      if (counts.size() > 2) {
        std::vector<std::string> some;
        for (const auto& [v, n] : counts)
          if (some.size() < 4) some.push_back("'" + v + "'");
        throw DataError(t.source + ": column '" + c.name + "': binary feature '" + f.name +
                        "' has " + std::to_string(counts.size()) + " distinct values (" +
                        join(some, ", ") + ", ...); expected two, or use type category");
      }
      // Two labels that are not boolean spellings: the second in sorted order is true (stated in
      // feature_metadata.json; set fallback_true_label to choose).
      std::cerr << "kiln: binary feature '" << f.name << "': values are not boolean spellings; "
                << "reading '" << counts.rbegin()->first
                << "' as true (set preprocessing.fallback_true_label to choose)\n";
    }
    // The labels predictions are written with.
    std::string true_label, false_label;
    for (const auto& [v, n] : counts) {
      int b = value_of(f, m, v, p, all_spelled, counts);
      (b ? true_label : false_label) = v;
    }
    m.true_label = true_label.empty() ? "true" : true_label;
    m.false_label = false_label.empty() ? "false" : false_label;
    if (!p.fallback_true_label && !all_spelled && counts.size() == 2) {
      m.true_label = counts.rbegin()->first;
      m.false_label = counts.begin()->first;
    }
    m.idx2str = {m.false_label, m.true_label};
    m.str2freq = {0, 0};
    for (const auto& [v, n] : counts) m.str2freq[v == m.true_label ? 1 : 0] += n;
    m.index();
    return m;
  }

  torch::Tensor encode(const FeatureConfig& f, const FeatureMetadata& m, const Table& t,
                       const Column& c) const override {
    const auto& p = f.prep<BinaryPreprocessing>();
    const int64_t n = static_cast<int64_t>(t.num_rows());
    auto out = torch::empty({n}, torch::kFloat32);
    float* o = out.data_ptr<float>();
    float fill = 0;
    if (p.missing_value_strategy == "fill_with_true") fill = 1;
    if (p.missing_value_strategy == "fill_with_const") fill = read(f, m, *p.fill_value);
    if (p.missing_value_strategy == "fill_with_mode")
      fill = m.str2freq.size() == 2 && m.str2freq[1] > m.str2freq[0] ? 1 : 0;
    auto src = missing_sources(t, c, p.missing_value_strategy);
    for (int64_t r = 0; r < n; ++r) {
      t.prefetch(c, r + Table::kPrefetchAhead);
      o[r] = src[r] >= 0 ? read(f, m, t.cell(c, src[r])) : fill;
    }
    return out;
  }

  void mark_dropped(const FeatureConfig& f, const Table& t, const Column& c,
                    std::vector<uint8_t>& keep) const override {
    if (f.is_output || f.prep<BinaryPreprocessing>().missing_value_strategy == "drop_row")
      FeatureKind::mark_dropped(f, t, c, keep);
  }

  int64_t output_size(const FeatureConfig&, const FeatureMetadata&) const override { return 1; }

  LossResult loss(const FeatureConfig& f, const FeatureMetadata&, const torch::Tensor& logits,
                  const torch::Tensor& target) const override {
    auto x = logits.reshape({-1});
    auto y = target.reshape({-1});
    auto opts = torch::nn::functional::BinaryCrossEntropyWithLogitsFuncOptions().reduction(
        torch::kNone);
    if (f.loss.positive_class_weight)
      opts.pos_weight(torch::tensor({static_cast<float>(*f.loss.positive_class_weight)}));
    auto rows = torch::nn::functional::binary_cross_entropy_with_logits(x, y, opts);
    if (f.loss.robust_lambda > 0)
      rows = (1 - f.loss.robust_lambda) * rows + f.loss.robust_lambda / 2;
    if (f.loss.confidence_penalty > 0) {  // penalize confident (low-entropy) predictions
      auto p = torch::sigmoid(x).clamp(1e-7, 1 - 1e-7);
      auto entropy = -(p * p.log() + (1 - p) * (1 - p).log());
      rows = rows - f.loss.confidence_penalty * entropy;
    }
    return {rows.mean() * f.loss.weight, rows.sum().item<double>(), rows.detach()};
  }

  std::unique_ptr<OutputMetrics> metrics(const FeatureConfig& f,
                                         const FeatureMetadata& m) const override {
    return std::make_unique<BinaryMetrics>(f.threshold,
                                           std::vector<std::string>{m.false_label, m.true_label});
  }

  MetricValues prediction_summary(const FeatureConfig& f, const FeatureMetadata&,
                                  const torch::Tensor& logits) const override {
    auto p = torch::sigmoid(logits);
    return {{"mean_probability", p.mean().item<double>()},
            {"positive_rate", (p >= f.threshold).to(torch::kFloat64).mean().item<double>()}};
  }
  torch::Tensor row_errors(const FeatureConfig& f, const torch::Tensor& logits,
                           const torch::Tensor& target) const override {  // misclassified: 0/1
    return ((torch::sigmoid(logits) >= f.threshold) != (target >= 0.5)).to(torch::kFloat64);
  }
  bool target_is_class() const override { return true; }
  Distribution distribution() const override { return Distribution::categorical; }
  bool scalar_value() const override { return true; }

  std::vector<PredictionColumn> predictions(const FeatureConfig& f, const FeatureMetadata& m,
                                            const torch::Tensor& logits) const override {
    auto p = torch::sigmoid(logits.reshape({-1}).to(torch::kFloat64)).contiguous();
    const double* d = p.data_ptr<double>();
    std::vector<PredictionColumn> cols = {{f.name + "_predictions", {}},
                                          {f.name + "_probabilities_" + m.false_label, {}, true},
                                          {f.name + "_probabilities_" + m.true_label, {}, true},
                                          {f.name + "_probability", {}, true}};
    for (int64_t i = 0; i < p.size(0); ++i) {
      bool yes = d[i] >= f.threshold;
      cols[0].values.push_back(yes ? m.true_label : m.false_label);
      cols[1].values.push_back(format_double(1 - d[i]));
      cols[2].values.push_back(format_double(d[i]));
      cols[3].values.push_back(format_double(yes ? d[i] : 1 - d[i]));
    }
    return cols;
  }

 private:
  static int value_of(const FeatureConfig&, const FeatureMetadata&, const std::string& v,
                      const BinaryPreprocessing& p, bool all_spelled,
                      const std::map<std::string, int64_t>& counts) {
    if (p.fallback_true_label) {
      if (v == *p.fallback_true_label) return 1;
      int b = spelled_bool(v);
      return b > 0 ? 1 : 0;
    }
    if (all_spelled) return spelled_bool(v);
    return v == counts.rbegin()->first ? 1 : 0;
  }
  // Reads one value the way fit() decided: boolean spellings, the fallback label, or the two
  // labels seen in training; anything else is false.
  static float read(const FeatureConfig& f, const FeatureMetadata& m, std::string_view raw) {
    const auto& p = f.prep<BinaryPreprocessing>();
    std::string_view v = trim(raw);
    if (p.fallback_true_label && v == *p.fallback_true_label) return 1;
    if (v == m.true_label) return 1;
    if (v == m.false_label) return 0;
    return spelled_bool(v) == 1 ? 1 : 0;
  }
};

}  // namespace

void register_binary_feature() {
  FeatureSchema s;
  s.doc = "true/false; boolean spellings or preprocessing.fallback_true_label";
  s.make_preprocessing = [](bool) { return std::make_shared<BinaryPreprocessing>(); };
  s.default_encoder = "passthrough";
  s.default_decoder = "regressor";
  s.default_loss = "binary_weighted_cross_entropy";
  s.losses = {"binary_weighted_cross_entropy"};
  s.metrics = {"loss", "accuracy", "precision", "recall", "specificity", "roc_auc"};
  s.default_metric = "roc_auc";
  s.output_threshold = true;
  s.automl_target = true;
  register_feature_type("binary", std::move(s), std::make_shared<BinaryKind>());
}

}  // namespace kiln
