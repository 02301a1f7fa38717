// timeseries: a row is a series of numbers (space-, tab- or comma-separated). Every row is padded
// with padding_value (default 0, as Ludwig) or truncated to one length: the longest training row,
// at most timeseries_length_limit. Encoders see [rows, steps] floats; the sequence encoders treat
// each step's value as a width-1 embedding. Column-major data (one observation per row, Ludwig's
// forecasting layout): an input's window_size makes each row's series the window ending at it, an
// output's horizon makes its target the horizon observations after it. As an output (forecasting)
// the projector predicts every step at once (features/numbers_output.h); loss huber, as Ludwig.
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "config/schema.h"
#include "data/synthesize.h"
#include "features/feature.h"
#include "features/numbers_output.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strings.h"

namespace kiln {
namespace {

struct TimeseriesPreprocessing : Options<TimeseriesPreprocessing> {
  bool output = false;  // which keys the feature takes (window_size: inputs; horizon: outputs)
  int timeseries_length_limit = 256;
  double padding_value = 0.0;
  std::string padding = "right";
  std::string missing_value_strategy = "fill_with_const";
  int window_size = 0, horizon = 0;
  explicit TimeseriesPreprocessing(bool out = false) : output(out) {
    if (out) missing_value_strategy = "drop_row";
  }
  template <class V>
  void visit(V& v) {
    v("timeseries_length_limit", timeseries_length_limit, "longest series kept (longer ones are truncated)",
      at_least(1));
    v("padding_value", padding_value, "value of the padding steps (and of missing observations)");
    v("padding", padding, "where shorter series are padded", one_of({"right", "left"}));
    if (!output) {
      v("missing_value_strategy", missing_value_strategy,
        "how missing series are filled (fill_with_const: all padding)",
        one_of({"fill_with_const", "bfill", "ffill", "drop_row"}));
      v("window_size", window_size,
        "column-major data: each row holds one observation, and the row's series is it and the "
        "window_size - 1 rows before it (padding_value before the first row); 0: each row holds its series",
        at_least(0));
    } else {
      v("missing_value_strategy", missing_value_strategy, "rows without a target are dropped",
        one_of({"drop_row"}));
      v("horizon", horizon,
        "column-major data: each row holds one observation, and the row's target is the horizon "
        "observations after it (rows whose horizon runs past the data are dropped); 0: each row holds "
        "its target series",
        at_least(0));
    }
  }
  // Column-major: how many rows one row's series spans (0 when each row holds its own series).
  int span() const { return output ? horizon : window_size; }
};

std::string feature_where(const FeatureConfig& f, const Table& t, size_t row) {
  return t.where(row) + ": " + (f.is_output ? "output" : "input") + " feature '" + f.name + "' (column '" +
         f.column + "')";
}

void parse_series(const FeatureConfig& f, const Table& t, const Column& c, size_t row, std::vector<float>& out) {
  size_t bad = 0;
  std::string token;
  if (!parse_number_list(t.cell(c, row), out, bad, token))
    throw DataError(feature_where(f, t, row) + ": value " + std::to_string(bad) + " '" + token +
                    "' is not a number (expected a series of space-separated numbers)");
}

// For each row, the row whose value it reads, or -1 for none: an input's missing-value strategy
// (bfill / ffill borrow a neighbour's); an output's target is its own row's value, or missing.
std::vector<int64_t> value_rows(const FeatureConfig& f, const Table& t, const Column& c) {
  if (!f.is_output) return missing_sources(t, c, f.prep<TimeseriesPreprocessing>().missing_value_strategy);
  std::vector<int64_t> rows(t.num_rows());
  for (size_t r = 0; r < rows.size(); ++r) rows[r] = Table::missing(c, r) ? -1 : static_cast<int64_t>(r);
  return rows;
}

// Column-major data: each row's one observation, NaN where it has none (value_rows).
std::vector<float> observations(const FeatureConfig& f, const Table& t, const Column& c) {
  const size_t n = t.num_rows();
  std::vector<float> obs(n, std::numeric_limits<float>::quiet_NaN());
  const auto src = value_rows(f, t, c);
  std::vector<float> v;
  for (size_t r = 0; r < n; ++r) {
    const int64_t from = src[r];
    if (from < 0) continue;
    parse_series(f, t, c, static_cast<size_t>(from), v);
    if (v.size() != 1)
      throw DataError(feature_where(f, t, static_cast<size_t>(from)) + ": " + std::to_string(v.size()) +
                      " values, expected one observation per row (preprocessing." +
                      (f.is_output ? "horizon" : "window_size") + " reads the column one row at a time)");
    obs[r] = v[0];
  }
  return obs;
}

// A timeseries input (and, since forecasting, output): a series per row, or with window_size /
// horizon a window over the rows of a column of single observations (Ludwig's time-delay
// embedding, in the file's row order).
class TimeseriesKind : public FeatureKind, public NumbersOutput {
 public:
  TimeseriesKind() : NumbersOutput(true) {}
  std::string synthesize(const FeatureConfig& f, Synthesis& s, int64_t) const override {
    if (f.prep<TimeseriesPreprocessing>().span() > 0) return s.number();
    return s.numbers(f.is_output ? 8 : 8 + s.pick(8));  // outputs: one length, no padded targets
  }
  unsigned metadata_fields() const override { return metadata_fields::vocabulary | metadata_fields::sequence; }
  const OutputKind* output() const override { return this; }
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
    if (p.span() > 0) {
      m.sequence_length = p.span();
      return m;
    }
    if (longest == 0)
      throw DataError(t.source + ": " + (f.is_output ? "output" : "input") + " feature '" + f.name + "' (column '" +
                      f.column + "'): no values in the training split");
    m.sequence_length = std::min<int64_t>(longest, p.timeseries_length_limit);
    return m;
  }

  torch::Tensor encode(const FeatureConfig& f, const FeatureMetadata& m, const Table& t,
                       const Column& c) const override {
    const auto& p = f.prep<TimeseriesPreprocessing>();
    const int64_t n = static_cast<int64_t>(t.num_rows()), L = m.sequence_length;
    auto out = torch::full({n, L}, p.padding_value, torch::kFloat32);
    float* o = out.data_ptr<float>();
    if (p.span() > 0) {  // a window over the rows: inputs end at the row, outputs start after it
      const std::vector<float> obs = observations(f, t, c);
      const int64_t first = f.is_output ? 1 : 1 - L;
      for (int64_t r = 0; r < n; ++r)
        for (int64_t k = 0; k < L; ++k) {
          const int64_t at = r + first + k;
          if (at >= 0 && at < n && !std::isnan(obs[at])) o[r * L + k] = obs[at];
        }
      return out;
    }
    const auto src = value_rows(f, t, c);
    std::vector<float> v;
    int64_t truncated = 0, first_truncated = -1;
    for (int64_t r = 0; r < n; ++r) {
      const int64_t from = src[r];
      if (from < 0) continue;  // all padding
      parse_series(f, t, c, static_cast<size_t>(from), v);
      if (static_cast<int64_t>(v.size()) > L && truncated++ == 0) first_truncated = r;
      const int64_t k = std::min<int64_t>(L, static_cast<int64_t>(v.size()));
      std::copy(v.begin(), v.begin() + k, o + r * L + (p.padding == "left" ? L - k : 0));
    }
    if (truncated)
      warn(t.source + ": " + (f.is_output ? "output" : "input") + " feature '" + f.name + "' (column '" + f.column +
           "'): " + std::to_string(truncated) + " of " + std::to_string(n) + " series are longer than " +
           std::to_string(L) + " steps and were truncated; first at " + t.where(static_cast<size_t>(first_truncated)));
    return out;
  }

  // Outputs: rows without a complete target are dropped (column-major: the horizon runs past the
  // data or over a missing observation; Ludwig pads those targets instead). Inputs: drop_row.
  void mark_dropped(const FeatureConfig& f, const Table& t, const Column& c,
                    std::vector<uint8_t>& keep) const override {
    const auto& p = f.prep<TimeseriesPreprocessing>();
    if (!f.is_output) {
      if (p.missing_value_strategy == "drop_row") FeatureKind::mark_dropped(f, t, c, keep);
      return;
    }
    if (p.horizon == 0) return FeatureKind::mark_dropped(f, t, c, keep);
    const std::vector<float> obs = observations(f, t, c);
    const int64_t n = static_cast<int64_t>(obs.size());
    int64_t dropped = 0, next_missing = n;  // the first row after r without an observation
    for (int64_t r = n - 1; r >= 0; --r) {
      if (next_missing - r <= p.horizon && keep[r]) keep[r] = 0, ++dropped;
      if (std::isnan(obs[r])) next_missing = r;
    }
    if (dropped)
      warn(t.source + ": output feature '" + f.name + "' (column '" + f.column + "'): " + std::to_string(dropped) +
           " rows have fewer than horizon = " + std::to_string(p.horizon) +
           " observations after them (the end of the data or a missing value) and are left out");
  }
};

}  // namespace

void register_timeseries_feature() {
  FeatureSchema s;
  s.doc = "a series of numbers per row, padded or truncated to one length (or a window over a column of observations); "
          "as an output, a forecast of horizon values";
  s.make_preprocessing = [](bool output) { return std::make_shared<TimeseriesPreprocessing>(output); };
  s.default_encoder = "parallel_cnn";
  s.default_decoder = "projector";
  s.default_loss = "huber";  // Ludwig's
  s.losses = {"huber", "mean_squared_error", "mean_absolute_error"};
  s.metrics = {"loss", "mean_squared_error", "mean_absolute_error", "r2", "root_mean_squared_error",
               "mean_absolute_scaled_error", "symmetric_mean_absolute_percentage_error"};
  s.default_metric = "mean_squared_error";
  register_feature_type("timeseries", std::move(s), std::make_shared<TimeseriesKind>());
}

}  // namespace kiln
