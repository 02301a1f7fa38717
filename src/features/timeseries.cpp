// timeseries (input): a row is a series of numbers (space-, tab- or comma-separated). Every row
// is padded with padding_value (default 0, as Ludwig) or truncated to one length: the longest
// training row, at most timeseries_length_limit. Encoders see [rows, steps] floats; the sequence
// encoders treat each step's value as a width-1 embedding.
#include <torch/torch.h>

#include "config/schema.h"
#include "data/synthesize.h"
#include "features/feature.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strings.h"

namespace kiln {
namespace {

struct TimeseriesPreprocessing : Options<TimeseriesPreprocessing> {
  int timeseries_length_limit = 256;
  double padding_value = 0.0;
  std::string padding = "right";
  std::string missing_value_strategy = "fill_with_const";
  template <class V>
  void visit(V& v) {
    v("timeseries_length_limit", timeseries_length_limit, "longest series kept (longer ones are truncated)",
      at_least(1));
    v("padding_value", padding_value, "value of the padding steps");
    v("padding", padding, "where shorter series are padded", one_of({"right", "left"}));
    v("missing_value_strategy", missing_value_strategy, "how missing series are filled (fill_with_const: all padding)",
      one_of({"fill_with_const", "bfill", "ffill", "drop_row"}));
  }
};

std::string feature_where(const FeatureConfig& f, const Table& t, size_t row) {
  return t.where(row) + ": input feature '" + f.name + "' (column '" + f.column + "')";
}

void parse_series(const FeatureConfig& f, const Table& t, const Column& c, size_t row, std::vector<float>& out) {
  size_t bad = 0;
  std::string token;
  if (!parse_number_list(t.cell(c, row), out, bad, token))
    throw DataError(feature_where(f, t, row) + ": value " + std::to_string(bad) + " '" + token +
                    "' is not a number (expected a series of space-separated numbers)");
}

class TimeseriesKind : public FeatureKind {
 public:
  std::string synthesize(const FeatureConfig&, Synthesis& s, int64_t) const override { return s.numbers(8 + s.pick(8)); }
  unsigned metadata_fields() const override { return metadata_fields::vocabulary | metadata_fields::sequence; }
  int64_t value_width(const FeatureMetadata& m) const override { return m.sequence_length; }
  bool numeric_steps() const override { return true; }
  FeatureMetadata fit(const FeatureConfig& f, const Table& t, const Column& c,
                      const std::vector<int64_t>& rows) const override {
    const auto& p = f.prep<TimeseriesPreprocessing>();
    FeatureMetadata m;
    m.name = f.name, m.type = "timeseries";
    m.training_rows = static_cast<int64_t>(rows.size());
    std::vector<float> v;
    int64_t longest = 0;
    for (int64_t r : rows) {
      if (Table::missing(c, r)) {
        ++m.training_missing;
        continue;
      }
      parse_series(f, t, c, static_cast<size_t>(r), v);
      longest = std::max<int64_t>(longest, static_cast<int64_t>(v.size()));
    }
    if (longest == 0)
      throw DataError(t.source + ": input feature '" + f.name + "' (column '" + f.column +
                      "'): no values in the training split");
    m.sequence_length = std::min<int64_t>(longest, p.timeseries_length_limit);
    return m;
  }

  torch::Tensor encode(const FeatureConfig& f, const FeatureMetadata& m, const Table& t,
                       const Column& c) const override {
    const auto& p = f.prep<TimeseriesPreprocessing>();
    const int64_t n = static_cast<int64_t>(t.num_rows()), L = m.sequence_length;
    auto out = torch::full({n, L}, p.padding_value, torch::kFloat32);
    float* o = out.data_ptr<float>();
    auto src = missing_sources(t, c, p.missing_value_strategy);
    std::vector<float> v;
    int64_t truncated = 0, first_truncated = -1;
    for (int64_t r = 0; r < n; ++r) {
      if (src[r] < 0) continue;  // all padding
      parse_series(f, t, c, static_cast<size_t>(src[r]), v);
      if (static_cast<int64_t>(v.size()) > L && truncated++ == 0) first_truncated = r;
      const int64_t k = std::min<int64_t>(L, static_cast<int64_t>(v.size()));
      std::copy(v.begin(), v.begin() + k, o + r * L + (p.padding == "left" ? L - k : 0));
    }
    if (truncated)
      warn(t.source + ": input feature '" + f.name + "' (column '" + f.column + "'): " + std::to_string(truncated) +
           " of " + std::to_string(n) + " series are longer than " + std::to_string(L) +
           " steps and were truncated; first at " + t.where(static_cast<size_t>(first_truncated)));
    return out;
  }

  void mark_dropped(const FeatureConfig& f, const Table& t, const Column& c,
                    std::vector<uint8_t>& keep) const override {
    if (f.prep<TimeseriesPreprocessing>().missing_value_strategy == "drop_row")
      FeatureKind::mark_dropped(f, t, c, keep);
  }

  // No output side (forecasting is not part of Kiln yet): output() is null, as the schema says.
};

}  // namespace

void register_timeseries_feature() {
  FeatureSchema s;
  s.doc = "a series of numbers per row (input), padded or truncated to one length";
  s.can_output = false;
  s.make_preprocessing = [](bool) { return std::make_shared<TimeseriesPreprocessing>(); };
  s.default_encoder = "parallel_cnn";
  register_feature_type("timeseries", std::move(s), std::make_shared<TimeseriesKind>());
}

}  // namespace kiln
