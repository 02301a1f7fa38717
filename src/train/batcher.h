#pragma once
// Builds batches by row index. Columns of the same dtype are packed into one [features, rows]
// matrix, so a batch costs one index_select per dtype instead of one per feature; each feature's
// batch is then a contiguous row of the result.
#include <torch/types.h>

#include <map>
#include <string>
#include <vector>

#include "model/batch.h"

namespace kiln {

class Batcher {
 public:
  explicit Batcher(const Batch& columns);
  Batch gather(const torch::Tensor& rows) const;

 private:
  struct Group {
    torch::Tensor matrix;  // [features, rows]
    std::vector<std::string> names;
  };
  std::vector<Group> groups_;
  Batch other_;  // columns that are not 1-D (gathered one by one)
};

}  // namespace kiln
