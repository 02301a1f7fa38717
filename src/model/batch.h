#pragma once
#include <torch/types.h>

#include <map>
#include <memory>
#include <string>

namespace kiln {

// Feature name → that feature's column for a batch of rows (or for all rows).
using Batch = std::map<std::string, torch::Tensor>;

// A column whose rows are produced only when a batch asks for them (images with in_memory:
// false: decoded per batch, so data larger than memory trains). Safe to call from several threads.
struct LazyColumn {
  virtual ~LazyColumn() = default;
  // Reads what `rows` need from storage (file bytes) without decoding them: a background thread
  // runs it for the next batch while the cores train on this one, so training does not wait on
  // the disk. Null when there is nothing worth reading ahead.
  virtual std::shared_ptr<const void> fetch(const torch::Tensor& /*rows*/) const { return nullptr; }
  // rows: int64 row indices of the table; `fetched`: fetch(rows)'s result, or null to read now.
  // Returns that batch's column, decoded on every core. Throws DataError naming the row when a
  // value cannot be loaded.
  virtual torch::Tensor load(const torch::Tensor& rows, const std::shared_ptr<const void>& fetched) const = 0;
};
using LazyColumns = std::map<std::string, std::shared_ptr<const LazyColumn>>;

}  // namespace kiln
