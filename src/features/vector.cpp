// vector: a fixed number of space-separated floats per row (vector_size from the config, else
// from the first training row). A malformed value is an error naming row, column and position.
#include <torch/torch.h>

#include "config/schema.h"
#include "features/feature.h"
#include "util/choice.h"
#include "util/error.h"
#include "util/strings.h"

namespace kiln {
namespace {

struct VectorPreprocessing : Options<VectorPreprocessing> {
  std::optional<int> vector_size;
  std::string missing_value_strategy = "fill_with_const";
  template <class V>
  void visit(V& v) {
    v("vector_size", vector_size, "number of values per row (default: the first training row's)");
    v("missing_value_strategy", missing_value_strategy,
      "fill_with_const (zeros) | bfill | ffill | drop_row");
  }
  std::vector<std::string> problems() const override {
    std::vector<std::string> p;
    check_choice(p, "missing_value_strategy", missing_value_strategy,
                 {"fill_with_const", "bfill", "ffill", "drop_row"});
    if (vector_size && *vector_size < 1) p.push_back("vector_size: expected at least 1");
    return p;
  }
};

std::string where(const FeatureConfig& f, const Table& t, size_t row) {
  return t.where(row) + ": input feature '" + f.name + "' (column '" + f.column + "')";
}

// Parses the row's values into out (cleared first); throws DataError on a non-number.
void parse_vector(const FeatureConfig& f, const Table& t, const Column& c, size_t row,
                  std::vector<float>& out) {
  out.clear();
  std::string_view s = t.cell(c, row);
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == ',')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t' && s[j] != ',') ++j;
    if (j > i) {
      double v;
      std::string_view tok = s.substr(i, j - i);
      if (!parse_double(tok, v) || !std::isfinite(v))
        throw DataError(where(f, t, row) + ": value " + std::to_string(out.size() + 1) + " '" +
                        std::string(tok) + "' is not a number (expected space-separated numbers)");
      out.push_back(static_cast<float>(v));
    }
    i = j;
  }
}

class VectorKind : public FeatureKind {
 public:
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
      throw DataError(t.source + ": input feature '" + f.name + "' (column '" + f.column +
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
    if (f.prep<VectorPreprocessing>().missing_value_strategy == "drop_row")
      FeatureKind::mark_dropped(f, t, c, keep);
  }

  // Vector outputs (projector) are not built yet: the schema says can_output = false.
  int64_t output_size(const FeatureConfig&, const FeatureMetadata& m) const override {
    return m.sequence_length;
  }
  LossResult loss(const FeatureConfig&, const FeatureMetadata&, const torch::Tensor&,
                  const torch::Tensor&) const override {
    throw std::logic_error("vector outputs are not supported");
  }
  std::unique_ptr<OutputMetrics> metrics(const FeatureConfig&, const FeatureMetadata&) const override {
    throw std::logic_error("vector outputs are not supported");
  }
  std::vector<PredictionColumn> predictions(const FeatureConfig&, const FeatureMetadata&,
                                            const torch::Tensor&) const override {
    throw std::logic_error("vector outputs are not supported");
  }
};

}  // namespace

void register_vector_feature() {
  FeatureSchema s;
  s.doc = "a fixed number of space-separated floats";
  s.can_output = false;
  s.make_preprocessing = [](bool) { return std::make_shared<VectorPreprocessing>(); };
  s.default_encoder = "dense";
  feature_schemas().add("vector", std::move(s));
  feature_kinds().add("vector", std::make_shared<VectorKind>());
}

}  // namespace kiln
