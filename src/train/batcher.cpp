#include "train/batcher.h"

#include <torch/torch.h>

namespace kiln {

Batcher::Batcher(const Batch& columns) {
  std::map<c10::ScalarType, std::vector<std::pair<std::string, torch::Tensor>>> by_type;
  for (const auto& [name, t] : columns) {
    if (t.dim() == 1)
      by_type[t.scalar_type()].emplace_back(name, t);
    else
      other_[name] = t;
  }
  for (auto& [type, list] : by_type) {
    Group g;
    std::vector<torch::Tensor> rows;
    for (auto& [name, t] : list) {
      g.names.push_back(name);
      rows.push_back(t);
    }
    g.matrix = torch::stack(rows, 0).contiguous();
    groups_.push_back(std::move(g));
  }
}

Batch Batcher::gather(const torch::Tensor& rows) const {
  Batch b;
  for (const auto& g : groups_) {
    auto m = g.matrix.index_select(1, rows);
    for (size_t i = 0; i < g.names.size(); ++i) b[g.names[i]] = m[static_cast<int64_t>(i)];
  }
  for (const auto& [name, t] : other_) b[name] = t.index_select(0, rows);
  return b;
}

}  // namespace kiln
