// vector: a fixed number of space-separated floats per row (vector_size from the config, else
// from the first training row). A malformed value is an error naming row, column and position.
// As an output the projector predicts all values at once (features/numbers_output.h).
#include <torch/torch.h>

#include "config/schema.h"
#include "data/synthesize.h"
#include "features/feature.h"
#include "features/numbers_output.h"
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

class VectorKind : public FeatureKind, public NumbersOutput {
 public:
  VectorKind() : NumbersOutput(false) {}
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
