#pragma once
#include <cstdint>
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

// Columns the split needs from the data (for ReadOptions), if any.
std::vector<std::string> split_columns(const PreprocessingConfig& p);

}  // namespace kiln
