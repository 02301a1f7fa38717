// vector: a fixed number of space-separated floats per row (vector_size from the config, else
// from the first training row). A malformed value is an error naming row, column and position.
// As an output the projector predicts all values at once (mse, mae, r2).
#include <torch/torch.h>

#include "config/schema.h"
#include "data/synthesize.h"
#include "features/feature.h"
#include "util/error.h"
#include "util/strings.h"

namespace kiln {
namespace {

struct VectorPreprocessing : Options<VectorPreprocessing> {
  std::optional<int> vector_size;
  std::string missing_value_strategy = "fill_with_const";
  template <class V>
  void visit(V& v) {
    v("vector_size", vector_size, "number of values per row (default: the first training row's)", at_least(1));
    v("missing_value_strategy", missing_value_strategy, "how missing rows are filled (fill_with_const: zeros)",
      one_of({"fill_with_const", "bfill", "ffill", "drop_row"}));
  }
};

std::string where(const FeatureConfig& f, const Table& t, size_t row) {
  return t.where(row) + ": " + (f.is_output ? "output" : "input") + " feature '" + f.name + "' (column '" +
         f.column + "')";
}

// Parses the row's values into out (cleared first); throws DataError on a non-number.
void parse_vector(const FeatureConfig& f, const Table& t, const Column& c, size_t row,
                  std::vector<float>& out) {
  size_t bad = 0;
  std::string token;
  if (!parse_number_list(t.cell(c, row), out, bad, token))
    throw DataError(where(f, t, row) + ": value " + std::to_string(bad) + " '" + token +
                    "' is not a number (expected space-separated numbers)");
}

// Vector outputs: errors over every value of every row; r2 against each position's mean.
class VectorMetrics : public OutputMetrics {
 public:
  PreparedBatch prepare(const torch::Tensor& logits, const torch::Tensor& target,
                        const torch::Tensor& row_losses) const override {
    PreparedBatch p;
    p.a = logits.detach().to(torch::kFloat64).contiguous();
    p.b = target.detach().to(torch::kFloat64).contiguous();
    p.loss = row_losses.detach().reshape({-1}).to(torch::kFloat64).contiguous();
    p.rows = p.a.size(0);
    return p;
  }
  void add(const PreparedBatch& p, const bool* mask) override {
    const int64_t d = p.a.size(1);
    if (sum_y_.empty()) sum_y_.assign(d, 0), sum_y2_.assign(d, 0);
    const double* pred = p.a.data_ptr<double>();
    const double* y = p.b.data_ptr<double>();
    const double* l = p.loss.data_ptr<double>();
    for (int64_t i = 0; i < p.rows; ++i) {
      if (mask && !mask[i]) continue;
      ++n_, loss_ += l[i];
      for (int64_t j = 0; j < d; ++j) {
        double e = pred[i * d + j] - y[i * d + j];
        sse_ += e * e, sae_ += std::fabs(e);
        sum_y_[j] += y[i * d + j], sum_y2_[j] += y[i * d + j] * y[i * d + j];
      }
    }
  }
  void merge(const OutputMetrics& other) override {
    const auto& o = dynamic_cast<const VectorMetrics&>(other);
    if (sum_y_.empty()) sum_y_.assign(o.sum_y_.size(), 0), sum_y2_.assign(o.sum_y_.size(), 0);
    for (size_t j = 0; j < o.sum_y_.size(); ++j) sum_y_[j] += o.sum_y_[j], sum_y2_[j] += o.sum_y2_[j];
    n_ += o.n_, loss_ += o.loss_, sse_ += o.sse_, sae_ += o.sae_;
  }
  MetricValues values() const override {
    const double n = std::max<int64_t>(1, n_), cells = n * std::max<size_t>(1, sum_y_.size());
    double sst = 0;
    for (size_t j = 0; j < sum_y_.size(); ++j) sst += sum_y2_[j] - sum_y_[j] * sum_y_[j] / n;
    return {{"loss", loss_ / n},
            {"mean_squared_error", sse_ / cells},
            {"mean_absolute_error", sae_ / cells},
            {"r2", sst > 0 ? 1 - sse_ / sst : 0.0}};
  }
  std::unique_ptr<OutputMetrics> empty_copy() const override { return std::make_unique<VectorMetrics>(); }
  int64_t count() const override { return n_; }

 private:
  int64_t n_ = 0;
  double loss_ = 0, sse_ = 0, sae_ = 0;
  std::vector<double> sum_y_, sum_y2_;
};

class VectorKind : public FeatureKind, public OutputKind {
 public:
  std::string synthesize(const FeatureConfig& f, Synthesis& s, int64_t) const override {
    return s.numbers(f.prep<VectorPreprocessing>().vector_size.value_or(4));
  }
  unsigned metadata_fields() const override { return metadata_fields::vocabulary | metadata_fields::sequence; }
  const OutputKind* output() const override { return this; }
  int64_t value_width(const FeatureMetadata& m) const override { return m.sequence_length; }
  FeatureMetadata fit(const FeatureConfig& f, const Table& t, const Column& c,
                      const std::vector<int64_t>& rows) const override {
    const auto& p = f.prep<VectorPreprocessing>();
    FeatureMetadata m;
    m.name = f.name, m.type = "vector";
    m.training_rows = static_cast<int64_t>(rows.size());
    std::vector<float> v;
    for (int64_t r : rows) {
      if (Table::missing(c, r)) {
        ++m.training_missing;
        continue;
      }
      if (m.sequence_length == 0) {
        parse_vector(f, t, c, static_cast<size_t>(r), v);
        m.sequence_length = p.vector_size ? *p.vector_size : static_cast<int64_t>(v.size());
      }
    }
    if (m.sequence_length == 0)
      throw DataError(t.source + ": " + (f.is_output ? "output" : "input") + " feature '" + f.name + "' (column '" + f.column +
                      "'): no values in the training split to take vector_size from");
    return m;
  }

  torch::Tensor encode(const FeatureConfig& f, const FeatureMetadata& m, const Table& t,
                       const Column& c) const override {
    const auto& p = f.prep<VectorPreprocessing>();
    const int64_t n = static_cast<int64_t>(t.num_rows()), d = m.sequence_length;
    auto out = torch::zeros({n, d}, torch::kFloat32);
    float* o = out.data_ptr<float>();
    auto src = missing_sources(t, c, p.missing_value_strategy);
    std::vector<float> v;
    for (int64_t r = 0; r < n; ++r) {
      if (src[r] < 0) continue;  // zeros
      parse_vector(f, t, c, static_cast<size_t>(src[r]), v);
      if (static_cast<int64_t>(v.size()) != d)
        throw DataError(where(f, t, static_cast<size_t>(src[r])) + ": " + std::to_string(v.size()) +
                        " values, expected " + std::to_string(d) + " (the vector_size)");
      std::copy(v.begin(), v.end(), o + r * d);
    }
    return out;
  }

  void mark_dropped(const FeatureConfig& f, const Table& t, const Column& c,
                    std::vector<uint8_t>& keep) const override {
    if (f.is_output || f.prep<VectorPreprocessing>().missing_value_strategy == "drop_row")
      FeatureKind::mark_dropped(f, t, c, keep);
  }

  // Outputs: the projector predicts every value at once; the loss is averaged over the values.
  int64_t output_size(const FeatureConfig&, const FeatureMetadata& m) const override {
    return m.sequence_length;
  }
  LossResult loss(const FeatureConfig& f, const FeatureMetadata&, const torch::Tensor& logits,
                  const torch::Tensor& target) const override {
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
  std::unique_ptr<OutputMetrics> metrics(const FeatureConfig&, const FeatureMetadata&) const override {
    return std::make_unique<VectorMetrics>();
  }
  // <name>_predictions: the predicted values, space-separated (the input format).
  std::vector<PredictionColumn> predictions(const FeatureConfig& f, const FeatureMetadata&,
                                            const torch::Tensor& logits) const override {
    auto l = logits.to(torch::kFloat64).contiguous();
    const int64_t n = l.size(0), d = l.size(1);
    const double* v = l.data_ptr<double>();
    PredictionColumn col{f.name + "_predictions", {}};
    for (int64_t i = 0; i < n; ++i) {
      std::string s;
      for (int64_t j = 0; j < d; ++j) s += (j ? " " : "") + format_double(v[i * d + j]);
      col.values.push_back(std::move(s));
    }
    return {col};
  }
};

}  // namespace

void register_vector_feature() {
  FeatureSchema s;
  s.doc = "a fixed number of space-separated floats";
  s.make_preprocessing = [](bool) { return std::make_shared<VectorPreprocessing>(); };
  s.default_encoder = "dense";
  s.default_decoder = "projector";
  s.default_loss = "mean_squared_error";
  s.losses = {"mean_squared_error", "mean_absolute_error", "huber"};
  s.metrics = {"loss", "mean_squared_error", "mean_absolute_error", "r2"};
  s.default_metric = "mean_squared_error";
  register_feature_type("vector", std::move(s), std::make_shared<VectorKind>());
}

}  // namespace kiln
