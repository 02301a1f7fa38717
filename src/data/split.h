#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "config/config.h"
#include "data/table.h"

namespace kiln {

struct Splits {
  std::vector<int64_t> train, validation, test;  // row indices into the Table
};

// Assigns each kept row to training / validation / test. `keep` marks rows that survive
// sampling and dropped-missing-target filtering.
Splits split_rows(const Table& table, const PreprocessingConfig& p, int seed,
                  const std::vector<uint8_t>& keep);

// k-fold cross-validation over `rows` (hyperopt's re-ranking): returns (training, validation)
// for fold `fold` of `folds`. Rows are shuffled with `seed` within each stratum (rows with equal
// `strata` values; pass an empty vector for none) and dealt round-robin, so every fold holds each
// stratum in proportion and the same seed gives every caller the same folds.
std::pair<std::vector<int64_t>, std::vector<int64_t>> kfold_rows(const std::vector<int64_t>& rows,
                                                                 const std::vector<int64_t>& strata,
                                                                 int folds, int fold, uint64_t seed);

// Columns the split needs from the data (for ReadOptions), if any.
std::vector<std::string> split_columns(const PreprocessingConfig& p);

}  // namespace kiln
