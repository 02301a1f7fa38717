// date: each value parsed with datetime_format (strptime codes, as Ludwig's Python ones), else
// with the first of a few common formats that fits, into nine integers: year, month (0-11),
// day (0-30), weekday (0 = Monday), yearday (0-365), hour, minute, second, second of the day.
// A value no format fits is an error naming row and column.
#include <torch/torch.h>

#include <ctime>

#include "config/schema.h"
#include "data/synthesize.h"
#include "features/feature.h"
#include "util/datetime.h"
#include "util/error.h"
#include "util/strings.h"

namespace kiln {
namespace {

struct DatePreprocessing : Options<DatePreprocessing> {
  std::optional<std::string> datetime_format;
  std::string missing_value_strategy = "fill_with_const";
  std::string fill_value;
  template <class V>
  void visit(V& v) {
    v("datetime_format", datetime_format,
      "strptime format, e.g. '%Y-%m-%d' (default: the first common format that fits)");
    v("missing_value_strategy", missing_value_strategy,
      "how missing dates are filled (fill_with_const: fill_value, else all zeros)",
      one_of({"fill_with_const", "bfill", "ffill", "drop_row"}));
    v("fill_value", fill_value, "fill_with_const: the date missing values read as (empty: all zeros)");
  }
};

class DateKind : public FeatureKind {
 public:
  std::string synthesize(const FeatureConfig& f, Synthesis& s, int64_t) const override {
    return s.date(f.prep<DatePreprocessing>().datetime_format.value_or("%Y-%m-%d"));
  }
  unsigned metadata_fields() const override { return metadata_fields::statistics; }
  FeatureMetadata fit(const FeatureConfig& f, const Table& t, const Column& c,
                      const std::vector<int64_t>& rows) const override {
    FeatureMetadata m;
    m.name = f.name, m.type = "date";
    m.training_rows = static_cast<int64_t>(rows.size());
    double sum = 0, sum2 = 0;
    int64_t n = 0;
    std::tm tm;
    for (int64_t r : rows) {
      if (Table::missing(c, r)) {
        ++m.training_missing;
        continue;
      }
      parse(f, t, c, static_cast<size_t>(r), tm);
      const double y = tm.tm_year + 1900;
      sum += y, sum2 += y * y, ++n;
    }
    m.mean = n ? sum / n : 2000;
    m.std = n > 1 ? std::sqrt(std::max(0.0, sum2 / n - m.mean * m.mean)) : 1;
    if (!(m.std > 0)) m.std = 1;
    return m;
  }

  torch::Tensor encode(const FeatureConfig& f, const FeatureMetadata&, const Table& t,
                       const Column& c) const override {
    const auto& p = f.prep<DatePreprocessing>();
    const int64_t n = static_cast<int64_t>(t.num_rows());
    auto out = torch::zeros({n, 9}, torch::kInt64);
    int64_t* o = out.data_ptr<int64_t>();
    auto src = missing_sources(t, c, p.missing_value_strategy);
    std::tm tm, fill{};
    const bool has_fill = !p.fill_value.empty();
    if (has_fill && !parse_datetime(p.fill_value, p.datetime_format.value_or(""), fill))
      throw DataError(t.source + ": input feature '" + f.name + "': preprocessing.fill_value '" + p.fill_value +
                      "' is not a date" + (p.datetime_format ? " in datetime_format '" + *p.datetime_format + "'" : ""));
    for (int64_t r = 0; r < n; ++r) {
      if (src[r] < 0 && !has_fill) continue;
      if (src[r] < 0) tm = fill;
      else parse(f, t, c, static_cast<size_t>(src[r]), tm);
      int64_t* d = o + r * 9;
      d[0] = tm.tm_year + 1900, d[1] = tm.tm_mon, d[2] = tm.tm_mday - 1;
      d[3] = (tm.tm_wday + 6) % 7, d[4] = tm.tm_yday, d[5] = tm.tm_hour, d[6] = tm.tm_min;
      d[7] = std::min(tm.tm_sec, 59), d[8] = tm.tm_hour * 3600 + tm.tm_min * 60 + d[7];
    }
    return out;
  }

  void mark_dropped(const FeatureConfig& f, const Table& t, const Column& c,
                    std::vector<uint8_t>& keep) const override {
    if (f.prep<DatePreprocessing>().missing_value_strategy == "drop_row")
      FeatureKind::mark_dropped(f, t, c, keep);
  }

 private:
  static void parse(const FeatureConfig& f, const Table& t, const Column& c, size_t row, std::tm& tm) {
    const std::string text(trim(t.cell(c, row)));
    const auto& p = f.prep<DatePreprocessing>();
    if (parse_datetime(text, p.datetime_format.value_or(""), tm)) return;
    if (p.datetime_format)
      throw DataError(t.where(row) + ": input feature '" + f.name + "' (column '" + f.column +
                      "'): '" + text + "' does not match datetime_format '" + *p.datetime_format + "'");
    throw DataError(t.where(row) + ": input feature '" + f.name + "' (column '" + f.column +
                    "'): '" + text + "' is not a date (set preprocessing.datetime_format, e.g. '%Y-%m-%d')");
  }
};

}  // namespace

void register_date_feature() {
  FeatureSchema s;
  s.doc = "a date and time, split into year, month, day, weekday, yearday, hour, minute, second";
  s.can_output = false;
  s.make_preprocessing = [](bool) { return std::make_shared<DatePreprocessing>(); };
  s.default_encoder = "embed";
  register_feature_type("date", std::move(s), std::make_shared<DateKind>());
}

}  // namespace kiln
