#pragma once
#include <torch/types.h>

#include <map>
#include <string>

namespace kiln {

// Feature name → that feature's column for a batch of rows (or for all rows).
using Batch = std::map<std::string, torch::Tensor>;

}  // namespace kiln
