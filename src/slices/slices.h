#pragma once
// The slices of a dataset: a name and a membership mask over the table's rows for each slice the
// config's `slices:` block defines (named predicates, one per value of a column, one per tag).
#include <torch/types.h>

#include <string>
#include <vector>

#include "config/config.h"
#include "data/table.h"

namespace kiln {

struct SliceSet {
  std::vector<std::string> names;
  torch::Tensor membership;  // bool [slices, table rows]
  bool empty() const { return names.empty(); }
};

// Columns the slice definitions read (to add to the table's columns).
std::vector<std::string> slice_columns(const Config& c);
// `rows` (kept rows) decide the most frequent values of `by` / `tag_column` slices.
// Category input columns already encoded, whose codes identify raw values (code 0: missing or
// unseen): slices read them instead of re-reading the column's text.
struct EncodedColumn {
  torch::Tensor codes;  // int64 per table row (category), or undefined
  const std::vector<std::string>* vocabulary = nullptr;
  const std::vector<double>* numbers = nullptr;  // parsed numbers (number features), or null
};
SliceSet build_slices(const Config& c, const Table& t, const std::vector<uint8_t>& keep,
                      int threads = 1, const std::map<std::string, EncodedColumn>* encoded = nullptr);

// One quality gate's verdict (slices.gates), for evaluate's output and --fail_on_gate.
struct GateResult {
  std::string gate;    // "young: Attrition accuracy >= 0.8"
  double value = 0;    // the measured value (NaN if not measured)
  bool passed = true;
  bool skipped = false;  // slice too small or absent: not judged
  std::string detail;
};

// Wilson score interval (95 %) of a proportion of `hits` out of `n`.
std::pair<double, double> wilson_interval(double hits, double n);

}  // namespace kiln
