#include "slices/slices.h"

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <thread>
#include <cmath>
#include <unordered_map>

#include "slices/expression.h"
#include "util/parallel.h"
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
  std::unordered_map<std::string_view, int64_t> counts;  // views into the table: no allocation
  for (size_t r = 0; r < t.num_rows(); ++r)
    if (keep[r] && !Table::missing(c, r)) split(t.cell(c, r), [&](std::string_view v) { counts[v]++; });
  std::vector<std::pair<std::string, int64_t>> v;
  for (const auto& [k, n] : counts) v.emplace_back(std::string(k), n);
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

SliceSet build_slices(const Config& c, const Table& t, const std::vector<uint8_t>& keep,
                      int threads, const std::map<std::string, EncodedColumn>* encoded) {
  SliceSet s;
  if (!c.slices) return s;
  const int64_t n = static_cast<int64_t>(t.num_rows());
  // Each slice (or each value of a by/tag column) becomes one job producing one mask; jobs run
  // on `threads` threads over columns parsed once up front.
  struct Job {
    std::string name;
    std::function<std::vector<uint8_t>()> run;
  };
  std::vector<Job> jobs;
  SliceExpression::ColumnCache cache;
  std::vector<std::string> expression_columns;
  std::vector<SliceExpression> expressions;
  auto add_column = [&](const std::string& col) {
    if (std::find(expression_columns.begin(), expression_columns.end(), col) ==
        expression_columns.end())
      expression_columns.push_back(col);
  };
  for (const auto& d : c.slices->define) {
    if (d.where) {
      expressions.push_back(SliceExpression::parse(*d.where));
      for (const auto& col : expressions.back().columns()) add_column(col);
    }
    if (d.by) add_column(*d.by);
  }
  std::vector<SliceExpression::ParsedColumn> parsed(expression_columns.size());
  parallel_for(expression_columns.size(), threads, [&](size_t i) {
    const std::string& name = expression_columns[i];
    if (encoded && encoded->count(name) && encoded->at(name).numbers) {
      parsed[i].col = &t.get(name);  // numbers already parsed by the feature's encoding
      parsed[i].num = *encoded->at(name).numbers;
    } else if (encoded && encoded->count(name)) {
      const auto& e = encoded->at(name);
      parsed[i] = SliceExpression::parse_codes(t, name, e.codes, *e.vocabulary);
    } else {
      parsed[i] = SliceExpression::parse_column(t, name);
    }
  });
  for (size_t i = 0; i < parsed.size(); ++i) cache.columns[expression_columns[i]] = std::move(parsed[i]);

  size_t e = 0;
  for (const auto& d : c.slices->define) {
    if (d.where) {
      const SliceExpression* ex = &expressions[e++];
      jobs.push_back({*d.name, [&t, &cache, ex] { return ex->evaluate(t, cache); }});
    } else if (d.by) {
      const Column* col = &t.get(*d.by);
      auto whole = [](std::string_view v, auto&& emit) { emit(v); };
      const auto* parsed = &cache.columns.at(*d.by);
      std::vector<std::pair<std::string, int64_t>> top;
      if (parsed->has_dict) {  // count dictionary ids instead of re-reading the text
        std::vector<int64_t> counts(parsed->values.size(), 0);
        for (int64_t r = 0; r < n; ++r)
          if (keep[r] && parsed->ids[r] >= 0) counts[parsed->ids[r]]++;
        for (size_t i = 0; i < counts.size(); ++i)
          if (counts[i] > 0) top.emplace_back(std::string(parsed->values[i]), counts[i]);
        std::sort(top.begin(), top.end(), [](const auto& a, const auto& b) {
          return a.second != b.second ? a.second > b.second : a.first < b.first;
        });
        if (static_cast<int>(top.size()) > d.top_k) top.resize(d.top_k);
      } else {
        top = top_values(t, *col, keep, d.top_k, whole);
      }
      for (const auto& [value, count] : top) {
        jobs.push_back({d.name ? *d.name + "=" + value : *d.by + "=" + value,
                        [&t, col, parsed, value = value, n] {
                          std::vector<uint8_t> m(n, 0);
                          if (parsed->has_dict) {  // compare dictionary ids, not text
                            auto it = std::find(parsed->values.begin(), parsed->values.end(), value);
                            const int32_t id = static_cast<int32_t>(it - parsed->values.begin());
                            for (int64_t r = 0; r < n; ++r) m[r] = parsed->ids[r] == id;
                            return m;
                          }
                          for (int64_t r = 0; r < n; ++r) {
                            t.prefetch(*col, r + Table::kPrefetchAhead);
                            m[r] = t.cell(*col, r) == value;
                          }
                          return m;
                        }});
      }
    } else if (d.tag_column) {
      const Column* col = &t.get(*d.tag_column);
      auto tags = [](std::string_view v, auto&& emit) { for_each_tag(v, emit); };
      for (const auto& [tag, count] : top_values(t, *col, keep, d.top_k, tags)) {
        jobs.push_back({(d.name ? *d.name : *d.tag_column) + ":" + tag, [&t, col, tag = tag, n] {
                          std::vector<uint8_t> m(n, 0);
                          for (int64_t r = 0; r < n; ++r)
                            for_each_tag(t.cell(*col, r),
                                         [&](std::string_view x) { m[r] |= x == tag; });
                          return m;
                        }});
      }
    }
  }
  s.membership = torch::zeros({static_cast<int64_t>(jobs.size()), n}, torch::kBool);
  parallel_for(jobs.size(), threads, [&](size_t i) {
    auto m = jobs[i].run();
    std::memcpy(s.membership[static_cast<int64_t>(i)].data_ptr<bool>(), m.data(), n);
  });
  for (const auto& j : jobs) s.names.push_back(j.name);
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
