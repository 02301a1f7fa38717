#include "slices/sliceline.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace kiln {
namespace {

using Bits = std::vector<uint64_t>;

struct Slice {
  std::vector<int> items;  // sorted
  Bits bits;
  int64_t size = 0;
  double sum_error = 0, max_error = 0;
  double score = -INFINITY;
};

double score_of(double sum_e, double size, double mean_e, double n, double alpha) {
  if (size <= 0 || mean_e <= 0) return -INFINITY;
  return alpha * ((sum_e / size) / mean_e - 1) - (1 - alpha) * (n / size - 1);
}

// The best score any sub-slice of S with at least min_support rows can reach (SliceLine's bound):
// its size ss lies in [min_support, |S|] and its error sum is at most min(sum_e, ss * max_e).
double upper_bound(double size, double sum_e, double max_e, double mean_e, double n, double alpha,
                   double min_support) {
  if (size < min_support) return -INFINITY;
  double best = -INFINITY;
  std::vector<double> points = {min_support, size};
  if (max_e > 0) points.push_back(std::clamp(sum_e / max_e, min_support, size));
  for (double ss : points) best = std::max(best, score_of(std::min(sum_e, ss * max_e), ss, mean_e, n, alpha));
  return best;
}

void stats(Slice& s, const std::vector<double>& errors) {
  s.size = 0, s.sum_error = 0, s.max_error = 0;
  for (size_t w = 0; w < s.bits.size(); ++w) {
    uint64_t word = s.bits[w];
    s.size += __builtin_popcountll(word);
    while (word) {
      int b = __builtin_ctzll(word);
      double e = errors[w * 64 + b];
      s.sum_error += e;
      s.max_error = std::max(s.max_error, e);
      word &= word - 1;
    }
  }
}

}  // namespace

SliceLineResult slice_line(const std::vector<SliceItem>& items, const std::vector<double>& errors,
                           const SliceLineOptions& o) {
  SliceLineResult res;
  const int64_t n = static_cast<int64_t>(errors.size());
  const size_t words = (errors.size() + 63) / 64;
  double total = 0;
  for (double e : errors) total += e;
  res.mean_error = n ? total / n : 0;
  const double N = static_cast<double>(n), mean = res.mean_error, alpha = o.alpha;
  const double sigma = static_cast<double>(o.min_support);

  std::vector<Slice> top;  // current top-k, best first
  auto kth_score = [&] { return static_cast<int>(top.size()) < o.k ? 0.0 : top.back().score; };
  auto offer = [&](const Slice& s) {
    if (!(s.score > 0) || s.size < o.min_support) return;
    if (static_cast<int>(top.size()) == o.k && s.score <= top.back().score) return;
    Slice copy;
    copy.items = s.items, copy.size = s.size, copy.sum_error = s.sum_error, copy.score = s.score;
    top.insert(std::upper_bound(top.begin(), top.end(), copy,
                                [](const Slice& a, const Slice& b) { return a.score > b.score; }),
               copy);
    if (static_cast<int>(top.size()) > o.k) top.pop_back();
  };

  // Level 1: single items with enough support.
  std::vector<Slice> level;
  for (size_t i = 0; i < items.size(); ++i) {
    if (static_cast<int64_t>(items[i].rows.size()) < o.min_support) continue;
    Slice s;
    s.items = {static_cast<int>(i)};
    s.bits.assign(words, 0);
    for (int64_t r : items[i].rows) s.bits[r / 64] |= uint64_t{1} << (r % 64);
    stats(s, errors);
    s.score = score_of(s.sum_error, s.size, mean, N, alpha);
    ++res.evaluated;
    offer(s);
    level.push_back(std::move(s));
  }
  res.candidates_per_level.push_back(static_cast<int64_t>(level.size()));

  for (int L = 2; L <= o.max_level && !level.empty(); ++L) {
    // Keep only slices whose refinements could still enter the top-k.
    std::vector<Slice> parents;
    for (auto& s : level)
      if (upper_bound(s.size, s.sum_error, s.max_error, mean, N, alpha, sigma) > kth_score())
        parents.push_back(std::move(s));
    std::sort(parents.begin(), parents.end(), [](auto& a, auto& b) { return a.items < b.items; });
    std::set<std::vector<int>> seen;
    std::vector<Slice> next;
    int64_t candidates = 0;
    for (size_t a = 0; a < parents.size(); ++a) {
      for (size_t b = a + 1; b < parents.size(); ++b) {
        const auto& x = parents[a].items;
        const auto& y = parents[b].items;
        // Join on a shared prefix of L-2 items (both sorted): each candidate is made once.
        if (!std::equal(x.begin(), x.end() - 1, y.begin())) break;
        int ix = x.back(), iy = y.back();
        if (items[ix].feature == items[iy].feature) continue;
        std::vector<int> joined = x;
        joined.push_back(iy);
        std::sort(joined.begin(), joined.end());
        bool features_distinct = true;
        for (size_t i = 0; i < joined.size() && features_distinct; ++i)
          for (size_t j = i + 1; j < joined.size(); ++j)
            if (items[joined[i]].feature == items[joined[j]].feature) features_distinct = false;
        if (!features_distinct || !seen.insert(joined).second) continue;
        ++candidates;
        // Bounds from the parents before touching any row.
        double size_ub = std::min(parents[a].size, parents[b].size);
        double sum_ub = std::min(parents[a].sum_error, parents[b].sum_error);
        double max_ub = std::min(parents[a].max_error, parents[b].max_error);
        if (size_ub < sigma || upper_bound(size_ub, sum_ub, max_ub, mean, N, alpha, sigma) <= kth_score())
          continue;
        Slice s;
        s.items = joined;
        s.bits.resize(words);
        for (size_t w = 0; w < words; ++w) s.bits[w] = parents[a].bits[w] & parents[b].bits[w];
        stats(s, errors);
        ++res.evaluated;
        if (s.size < o.min_support) continue;
        s.score = score_of(s.sum_error, s.size, mean, N, alpha);
        offer(s);
        // Keep (with its row bits) only what can still parent a top-k slice one level up.
        if (L < o.max_level &&
            upper_bound(s.size, s.sum_error, s.max_error, mean, N, alpha, sigma) > kth_score())
          next.push_back(std::move(s));
      }
    }
    res.candidates_per_level.push_back(candidates);
    level = std::move(next);
  }

  for (const auto& s : top) {
    FoundSlice f;
    f.items = s.items;
    f.size = s.size;
    f.error = s.size ? s.sum_error / s.size : 0;
    f.score = s.score;
    for (size_t i = 0; i < s.items.size(); ++i)
      f.where += (i ? " and " : "") + items[s.items[i]].label;
    res.top.push_back(std::move(f));
  }
  return res;
}

}  // namespace kiln
