#include "data/split.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "util/datetime.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strings.h"

namespace kiln {

std::vector<std::string> split_columns(const PreprocessingConfig& p) {
  const auto& s = p.split;
  if (s.type == "fixed") return {s.column.value_or("split")};
  if (s.column) return {*s.column};
  return {};
}

Splits split_rows(const Table& table, const PreprocessingConfig& p, int seed,
                  const std::vector<uint8_t>& keep) {
  Splits out;
  const auto& s = p.split;
  const size_t n = table.num_rows();
  auto put = [&](int64_t row, int which) {
    (which == 0 ? out.train : which == 1 ? out.validation : out.test).push_back(row);
  };
  const double p0 = s.probabilities.size() == 3 ? s.probabilities[0] : 0.7;
  const double p1 = s.probabilities.size() == 3 ? s.probabilities[1] : 0.1;
  auto bucket = [&](double u) { return u < p0 ? 0 : u < p0 + p1 ? 1 : 2; };

  if (s.type == "fixed") {
    const Column& c = table.get(s.column.value_or("split"));
    for (size_t r = 0; r < n; ++r) {
      if (!keep[r]) continue;
      double v;
      std::string_view text = table.cell(c, r);
      if (!parse_double(text, v) || !(v == 0 || v == 1 || v == 2))
        throw DataError(table.where(r) + ": column '" + c.name + "': expected 0, 1 or 2 " +
                        "(training, validation, test), got '" + std::string(text) + "'");
      put(static_cast<int64_t>(r), static_cast<int>(v));
    }
  } else if (s.type == "random") {
    std::mt19937_64 rng(static_cast<uint64_t>(seed));
    std::uniform_real_distribution<double> uni(0.0, 1.0);
    for (size_t r = 0; r < n; ++r) {
      double u = uni(rng);  // drawn for every row, so a row's split never depends on `keep`
      if (keep[r]) put(static_cast<int64_t>(r), bucket(u));
    }
  } else if (s.type == "hash") {
    const Column& c = table.get(*s.column);
    for (size_t r = 0; r < n; ++r) {
      if (!keep[r]) continue;
      std::string_view v = table.cell(c, r);
      uint64_t h = hash_bytes(v.data(), v.size());
      h ^= h >> 33;
      h *= 0xff51afd7ed558ccdull;
      h ^= h >> 33;
      put(static_cast<int64_t>(r), bucket(static_cast<double>(h >> 11) / 9007199254740992.0));
    }
  } else if (s.type == "datetime") {  // chronological: the earliest kept rows train, the latest test
    const Column& c = table.get(*s.column);
    std::vector<std::pair<double, int64_t>> order;
    std::tm tm;
    for (size_t r = 0; r < n; ++r) {
      if (!keep[r]) continue;
      const std::string text(trim(table.cell(c, r)));
      double when;
      if (parse_datetime(text, "", tm)) when = static_cast<double>(timegm(&tm));
      else if (!parse_double(text, when) || !std::isfinite(when))
        throw DataError(table.where(r) + ": column '" + c.name + "': '" + text +
                        "' is not a date or time (the datetime split orders rows by it; e.g. 2024-01-31 or "
                        "2024-01-31 13:45:00)");
      order.emplace_back(when, static_cast<int64_t>(r));
    }
    std::stable_sort(order.begin(), order.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    const size_t a = static_cast<size_t>(p0 * order.size()), b = static_cast<size_t>((p0 + p1) * order.size());
    for (size_t i = 0; i < order.size(); ++i) put(order[i].second, i < a ? 0 : i < b ? 1 : 2);
    for (auto* v : {&out.train, &out.validation, &out.test}) std::sort(v->begin(), v->end());
  } else {  // stratify: each value of the column is split in the given proportions
    const Column& c = table.get(*s.column);
    std::map<std::string_view, std::vector<int64_t>> groups;
    for (size_t r = 0; r < n; ++r)
      if (keep[r]) groups[table.cell(c, r)].push_back(static_cast<int64_t>(r));
    std::mt19937_64 rng(static_cast<uint64_t>(seed));
    for (auto& [value, rows] : groups) {
      std::shuffle(rows.begin(), rows.end(), rng);
      size_t a = static_cast<size_t>(std::llround(p0 * rows.size()));
      size_t b = static_cast<size_t>(std::llround((p0 + p1) * rows.size()));
      for (size_t i = 0; i < rows.size(); ++i) put(rows[i], i < a ? 0 : i < b ? 1 : 2);
    }
    for (auto* v : {&out.train, &out.validation, &out.test}) std::sort(v->begin(), v->end());
  }
  return out;
}

std::pair<std::vector<int64_t>, std::vector<int64_t>> kfold_rows(const std::vector<int64_t>& rows,
                                                                 const std::vector<int64_t>& strata,
                                                                 int folds, int fold, uint64_t seed) {
  if (folds < 2 || fold < 0 || fold >= folds) throw ModelError("kfold_rows: fold out of range");
  if (!strata.empty() && strata.size() != rows.size()) throw ModelError("kfold_rows: one stratum per row expected");
  std::map<int64_t, std::vector<int64_t>> groups;
  for (size_t i = 0; i < rows.size(); ++i) groups[strata.empty() ? 0 : strata[i]].push_back(rows[i]);
  std::mt19937_64 rng(seed);
  std::pair<std::vector<int64_t>, std::vector<int64_t>> out;
  size_t dealt = 0;  // continues across strata, so small strata do not all start in fold 0
  for (auto& [value, members] : groups) {
    std::shuffle(members.begin(), members.end(), rng);
    for (int64_t r : members) (static_cast<int>(dealt++ % folds) == fold ? out.second : out.first).push_back(r);
  }
  std::sort(out.first.begin(), out.first.end());
  std::sort(out.second.begin(), out.second.end());
  return out;
}

}  // namespace kiln
