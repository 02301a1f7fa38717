#pragma once
// SliceLine (Sagadeeva & Boehm, SIGMOD 2021): the top-k slices — conjunctions of column = value
// items — where a model's error is high relative to their size:
//   score(S) = alpha * (mean error in S / mean error - 1) - (1 - alpha) * (n / |S| - 1)
// found by lattice enumeration level by level (a level-L slice joins two level-(L-1) slices that
// share L-2 items), pruned by minimum support and by an upper bound of the score any refinement
// of a slice can reach.
#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

struct SliceLineOptions {
  int k = 10;
  int max_level = 3;
  int64_t min_support = 32;
  double alpha = 0.95;
};

// One item per (feature, value): rows[i] lists the rows holding it.
struct SliceItem {
  int feature;        // items of one feature never combine
  std::string label;  // a predicate, e.g. "Department == 'Sales'"
  std::vector<int64_t> rows;
};

struct FoundSlice {
  std::vector<int> items;  // indices into the item list
  std::string where;       // items joined with " and "
  int64_t size = 0;
  double error = 0;  // mean error in the slice
  double score = 0;
};

struct SliceLineResult {
  std::vector<FoundSlice> top;  // best first, score > 0
  double mean_error = 0;
  int64_t evaluated = 0;  // slices whose statistics were computed
  std::vector<int64_t> candidates_per_level;
};

SliceLineResult slice_line(const std::vector<SliceItem>& items, const std::vector<double>& errors,
                           const SliceLineOptions& o);

}  // namespace kiln
