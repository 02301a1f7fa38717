#include "slices/slices.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "slices/expression.h"
#include "util/strings.h"

namespace kiln {

std::vector<std::string> slice_columns(const Config& c) {
  std::vector<std::string> out;
  if (!c.slices) return out;
  auto add = [&](const std::string& s) {
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  };
  for (const auto& d : c.slices->define) {
    if (d.where)
      for (const auto& col : SliceExpression::parse(*d.where).columns()) add(col);
    if (d.by) add(*d.by);
    if (d.tag_column) add(*d.tag_column);
  }
  return out;
}

namespace {

template <class Split>
std::vector<std::pair<std::string, int64_t>> top_values(const Table& t, const Column& c,
                                                        const std::vector<uint8_t>& keep, int k,
                                                        Split&& split) {
  std::unordered_map<std::string, int64_t> counts;
  for (size_t r = 0; r < t.num_rows(); ++r)
    if (keep[r] && !Table::missing(c, r)) split(t.cell(c, r), [&](std::string_view v) { counts[std::string(v)]++; });
  std::vector<std::pair<std::string, int64_t>> v(counts.begin(), counts.end());
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (static_cast<int>(v.size()) > k) v.resize(k);
  return v;
}

template <class Fn>
void for_each_tag(std::string_view s, Fn&& fn) {
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i)
    if (i == s.size() || s[i] == ',' || s[i] == ';' || s[i] == '|') {
      auto tag = trim(s.substr(start, i - start));
      if (!tag.empty()) fn(tag);
      start = i + 1;
    }
}

}  // namespace

SliceSet build_slices(const Config& c, const Table& t, const std::vector<uint8_t>& keep) {
  SliceSet s;
  if (!c.slices) return s;
  const int64_t n = static_cast<int64_t>(t.num_rows());
  std::vector<std::vector<uint8_t>> masks;
  for (const auto& d : c.slices->define) {
    if (d.where) {
      s.names.push_back(*d.name);
      masks.push_back(SliceExpression::parse(*d.where).evaluate(t));
    } else if (d.by) {
      const Column& col = t.get(*d.by);
      auto whole = [](std::string_view v, auto&& emit) { emit(v); };
      for (const auto& [value, count] : top_values(t, col, keep, d.top_k, whole)) {
        s.names.push_back(d.name ? *d.name + "=" + value : *d.by + "=" + value);
        std::vector<uint8_t> m(n, 0);
        for (int64_t r = 0; r < n; ++r) m[r] = t.cell(col, r) == value;
        masks.push_back(std::move(m));
      }
    } else if (d.tag_column) {
      const Column& col = t.get(*d.tag_column);
      auto tags = [](std::string_view v, auto&& emit) { for_each_tag(v, emit); };
      for (const auto& [tag, count] : top_values(t, col, keep, d.top_k, tags)) {
        s.names.push_back((d.name ? *d.name : *d.tag_column) + ":" + tag);
        std::vector<uint8_t> m(n, 0);
        for (int64_t r = 0; r < n; ++r)
          for_each_tag(t.cell(col, r), [&](std::string_view x) { m[r] |= x == tag; });
        masks.push_back(std::move(m));
      }
    }
  }
  s.membership = torch::zeros({static_cast<int64_t>(masks.size()), n}, torch::kBool);
  for (size_t i = 0; i < masks.size(); ++i) {
    auto row = s.membership[static_cast<int64_t>(i)];
    std::memcpy(row.data_ptr<bool>(), masks[i].data(), n);
  }
  return s;
}

std::pair<double, double> wilson_interval(double hits, double n) {
  if (n <= 0) return {0.0, 1.0};
  const double z = 1.959963984540054, p = hits / n;
  double denom = 1 + z * z / n;
  double center = (p + z * z / (2 * n)) / denom;
  double half = z * std::sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom;
  return {std::max(0.0, center - half), std::min(1.0, center + half)};
}

}  // namespace kiln
