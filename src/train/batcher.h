#pragma once
// Builds batches by row index. Columns of the same dtype are packed into one [features, rows]
// matrix, so a batch costs one index_select per dtype instead of one per feature; each feature's
// batch is then a contiguous row of the result.
#include <torch/types.h>

#include <functional>
#include <future>
#include <map>
#include <string>
#include <vector>

#include "model/batch.h"

namespace kiln {

class Batcher {
 public:
  explicit Batcher(const Batch& columns, LazyColumns lazy = {});
  // What the lazy columns read ahead for `rows` (LazyColumn::fetch), by column.
  using Fetched = std::map<std::string, std::shared_ptr<const void>>;
  Fetched fetch(const torch::Tensor& rows) const;
  Batch gather(const torch::Tensor& rows, const Fetched* fetched = nullptr) const;
  bool has_lazy() const { return !lazy_.empty(); }

 private:
  LazyColumns lazy_;
  struct Group {
    torch::Tensor matrix;  // [features, rows]
    std::vector<std::string> names;
  };
  std::vector<Group> groups_;
  Batch other_;  // columns that are not 1-D (gathered one by one)
};

// Batches 0..count-1 in order. With lazy columns, the files of batch k+1 are read on a background
// thread while the caller works on batch k (so the disk overlaps training), and each batch is
// decoded on every core when next() asks for it (decoding beside training would only take cores
// from it). An error while loading is thrown by the next() that asks for that batch.
class BatchStream {
 public:
  BatchStream(const Batcher& batcher, std::function<torch::Tensor(int64_t)> rows_of, int64_t count);
  ~BatchStream();
  Batch next();

 private:
  const Batcher& batcher_;
  std::function<torch::Tensor(int64_t)> rows_of_;
  int64_t count_, next_ = 0;
  std::future<Batcher::Fetched> ahead_;
};

}  // namespace kiln
