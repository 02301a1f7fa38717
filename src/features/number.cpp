// number: a float per row. Missing values are filled (constant, training mean or mode, or a
// neighbour), then normalized with statistics of the training split.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "config/schema.h"
#include "data/synthesize.h"
#include "features/feature.h"
#include "util/error.h"
#include "util/strings.h"

namespace kiln {
namespace {

const std::vector<std::string> kStrategies = {"fill_with_const", "fill_with_mean",
                                              "fill_with_mode", "bfill", "ffill", "drop_row"};

struct NumberPreprocessing : Options<NumberPreprocessing> {
  std::string missing_value_strategy = "fill_with_const";
  double fill_value = 0.0;
  std::string normalization = "zscore";
  template <class V>
  void visit(V& v) {
    v("missing_value_strategy", missing_value_strategy, "how missing values are filled", one_of(kStrategies));
    v("fill_value", fill_value, "fill_with_const: the value");
    v("normalization", normalization, "how values are scaled", one_of({"zscore", "minmax", "iq", "none"}));
  }
};

double parse_number(const Table& t, const Column& c, size_t row) {
  double v;
  std::string_view s = t.cell(c, row);
  if (!parse_double(s, v) || std::isnan(v))
    throw DataError(t.where(row) + ": column '" + c.name + "': '" + std::string(s) +
                    "' is not a number");
  return v;
}

// x_normalized = (x - shift) / scale
void normalization_params(const FeatureMetadata& m, const std::string& norm, double& shift,
                          double& scale) {
  shift = 0, scale = 1;
  if (norm == "zscore") shift = m.mean, scale = m.std;
  if (norm == "minmax") shift = m.min, scale = m.max - m.min;
  if (norm == "iq") shift = m.q2, scale = m.q3 - m.q1;
  if (!(scale > 0) || !std::isfinite(scale)) scale = 1;
}

class NumberKind : public FeatureKind, public OutputKind {
 public:
  std::string synthesize(const FeatureConfig&, Synthesis& s, int64_t) const override { return s.number(); }
  unsigned metadata_fields() const override { return metadata_fields::statistics; }
  const OutputKind* output() const override { return this; }
  FeatureMetadata fit(const FeatureConfig& f, const Table& t, const Column& c,
                      const std::vector<int64_t>& rows) const override {
    std::vector<double> v;
    v.reserve(rows.size());
    for (int64_t r : rows)
      if (!Table::missing(c, r)) v.push_back(parse_number(t, c, r));
    return statistics(f, std::move(v), static_cast<int64_t>(rows.size()));
  }

  // One parse of the column serves both the statistics and the encoding.
  std::pair<FeatureMetadata, torch::Tensor> fit_encode(
      const FeatureConfig& f, const Table& t, const Column& c,
      const std::vector<int64_t>& rows) const override {
    const int64_t n = static_cast<int64_t>(t.num_rows());
    std::vector<double> raw(n);
    for (int64_t r = 0; r < n; ++r) {
      t.prefetch(c, r + Table::kPrefetchAhead);
      raw[r] = Table::missing(c, r) ? std::nan("") : parse_number(t, c, r);
    }
    std::vector<double> v;
    v.reserve(rows.size());
    for (int64_t r : rows)
      if (!std::isnan(raw[r])) v.push_back(raw[r]);
    FeatureMetadata m = statistics(f, std::move(v), static_cast<int64_t>(rows.size()));
    return {m, normalize(f, m, t, c, [&](int64_t r) { return raw[r]; })};
  }

  torch::Tensor encode(const FeatureConfig& f, const FeatureMetadata& m, const Table& t,
                       const Column& c) const override {
    return normalize(f, m, t, c, [&](int64_t r) { return parse_number(t, c, r); });
  }

  std::pair<torch::Tensor, std::vector<double>> encode_with_numbers(
      const FeatureConfig& f, const FeatureMetadata& m, const Table& t,
      const Column& c) const override {
    const int64_t n = static_cast<int64_t>(t.num_rows());
    std::vector<double> raw(n);
    for (int64_t r = 0; r < n; ++r) {
      t.prefetch(c, r + Table::kPrefetchAhead);
      raw[r] = Table::missing(c, r) ? std::nan("") : parse_number(t, c, r);
    }
    auto e = normalize(f, m, t, c, [&](int64_t r) { return raw[r]; });
    return {e, std::move(raw)};
  }

 private:
  static FeatureMetadata statistics(const FeatureConfig& f, std::vector<double> v,
                                    int64_t training_rows) {
    const auto& p = f.prep<NumberPreprocessing>();
    FeatureMetadata m;
    m.name = f.name, m.type = "number";
    m.training_rows = training_rows;
    m.training_missing = training_rows - static_cast<int64_t>(v.size());
    if (!v.empty()) {
      double sum = 0;
      for (double x : v) sum += x;
      m.mean = sum / v.size();
      double ss = 0;
      for (double x : v) ss += (x - m.mean) * (x - m.mean);
      m.std = std::sqrt(ss / v.size());  // population std, as Ludwig and the reference
      // Quantiles by selection (linear interpolation, as numpy's default), not a full sort.
      auto q = [&](double p) {
        double pos = p * (v.size() - 1);
        size_t lo = static_cast<size_t>(pos);
        std::nth_element(v.begin(), v.begin() + lo, v.end());
        double a = v[lo];
        if (lo + 1 >= v.size() || pos == lo) return a;
        double b = *std::min_element(v.begin() + lo + 1, v.end());
        return a + (b - a) * (pos - lo);
      };
      m.min = *std::min_element(v.begin(), v.end());
      m.max = *std::max_element(v.begin(), v.end());
      m.q1 = q(0.25), m.q2 = q(0.5), m.q3 = q(0.75);
    }
    m.fill_value = p.fill_value;
    if (p.missing_value_strategy == "fill_with_mean") m.fill_value = m.mean;
    if (p.missing_value_strategy == "fill_with_mode" && !v.empty()) {
      std::sort(v.begin(), v.end());
      double best = v[0];
      size_t best_n = 0;
      for (size_t i = 0; i < v.size();) {
        size_t j = i;
        while (j < v.size() && v[j] == v[i]) ++j;
        if (j - i > best_n) best_n = j - i, best = v[i];
        i = j;
      }
      m.fill_value = best;
    }
    return m;
  }

  // value(row) gives the parsed number of a non-missing row.
  template <class Value>
  static torch::Tensor normalize(const FeatureConfig& f, const FeatureMetadata& m, const Table& t,
                                 const Column& c, Value&& value) {
    const auto& p = f.prep<NumberPreprocessing>();
    double shift, scale;
    normalization_params(m, p.normalization, shift, scale);
    const int64_t n = static_cast<int64_t>(t.num_rows());
    auto out = torch::empty({n}, torch::kFloat32);
    float* o = out.data_ptr<float>();
    auto src = missing_sources(t, c, p.missing_value_strategy);
    for (int64_t r = 0; r < n; ++r) {
      t.prefetch(c, r + Table::kPrefetchAhead);
      double x = src[r] >= 0 ? value(src[r]) : m.fill_value;
      o[r] = static_cast<float>((x - shift) / scale);
    }
    return out;
  }

 public:
  void mark_dropped(const FeatureConfig& f, const Table& t, const Column& c,
                    std::vector<uint8_t>& keep) const override {
    if (f.is_output || f.prep<NumberPreprocessing>().missing_value_strategy == "drop_row")
      FeatureKind::mark_dropped(f, t, c, keep);
  }

  int64_t output_size(const FeatureConfig&, const FeatureMetadata&) const override { return 1; }

  LossResult loss(const FeatureConfig& f, const FeatureMetadata&, const torch::Tensor& logits,
                  const torch::Tensor& target) const override {
    auto pred = logits.reshape({-1});
    auto y = target.reshape({-1});
    torch::Tensor rows;
    const auto& type = f.loss.type;
    if (type == "mean_squared_error") {
      rows = (pred - y).pow(2);
    } else if (type == "mean_absolute_error") {
      rows = (pred - y).abs();
    } else {  // huber
      auto d = (pred - y).abs();
      double delta = f.loss.delta;
      rows = torch::where(d <= delta, 0.5 * d.pow(2), delta * (d - 0.5 * delta));
    }
    return {rows.mean() * f.loss.weight, rows.sum().item<double>(), rows.detach()};
  }

  std::unique_ptr<OutputMetrics> metrics(const FeatureConfig& f,
                                         const FeatureMetadata& m) const override {
    double shift, scale;
    normalization_params(m, f.prep<NumberPreprocessing>().normalization, shift, scale);
    return std::make_unique<NumberMetrics>(scale, shift);
  }

  Distribution distribution() const override { return Distribution::numeric; }
  bool scalar_value() const override { return true; }

  std::vector<PredictionColumn> predictions(const FeatureConfig& f, const FeatureMetadata& m,
                                            const torch::Tensor& logits) const override {
    double shift, scale;
    normalization_params(m, f.prep<NumberPreprocessing>().normalization, shift, scale);
    auto p = (logits.reshape({-1}).to(torch::kFloat64) * scale + shift).contiguous();
    PredictionColumn col{f.name + "_predictions", {}, true};
    const double* d = p.data_ptr<double>();
    col.values.reserve(p.size(0));
    for (int64_t i = 0; i < p.size(0); ++i) col.values.push_back(format_double(d[i]));
    return {std::move(col)};
  }
};

}  // namespace

void register_number_feature() {
  FeatureSchema s;
  s.doc = "a real number; zscore/minmax/iq normalization, fitted on the training split";
  s.make_preprocessing = [](bool output) {
    auto p = std::make_shared<NumberPreprocessing>();
    if (output) p->normalization = "none";  // Ludwig: outputs are not normalized by default
    return p;
  };
  s.default_encoder = "passthrough";
  s.default_decoder = "regressor";
  s.default_loss = "mean_squared_error";
  s.losses = {"mean_squared_error", "mean_absolute_error", "huber"};
  s.metrics = {"loss", "mean_squared_error", "mean_absolute_error", "root_mean_squared_error",
               "r2"};
  s.default_metric = "mean_squared_error";
  s.automl_target = true;
  s.automl_missing_value_strategy = "fill_with_mean";
  register_feature_type("number", std::move(s), std::make_shared<NumberKind>());
}

}  // namespace kiln
