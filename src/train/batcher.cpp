#include "train/batcher.h"

#include <torch/torch.h>

namespace kiln {

Batcher::Batcher(const Batch& columns, LazyColumns lazy) : lazy_(std::move(lazy)) {
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

Batcher::Fetched Batcher::fetch(const torch::Tensor& rows) const {
  Fetched f;
  for (const auto& [name, l] : lazy_) f[name] = l->fetch(rows);
  return f;
}

Batch Batcher::gather(const torch::Tensor& rows, const Fetched* fetched) const {
  Batch b;
  for (const auto& g : groups_) {
    auto m = g.matrix.index_select(1, rows);
    for (size_t i = 0; i < g.names.size(); ++i) b[g.names[i]] = m[static_cast<int64_t>(i)];
  }
  for (const auto& [name, t] : other_) b[name] = t.index_select(0, rows);
  for (const auto& [name, l] : lazy_) {
    auto it = fetched ? fetched->find(name) : Fetched::const_iterator();
    b[name] = l->load(rows, fetched && it != fetched->end() ? it->second : nullptr);
  }
  return b;
}

BatchStream::BatchStream(const Batcher& batcher, std::function<torch::Tensor(int64_t)> rows_of, int64_t count)
    : batcher_(batcher), rows_of_(std::move(rows_of)), count_(count) {}

BatchStream::~BatchStream() {
  if (ahead_.valid()) ahead_.wait();  // a batch loading for nobody: let it finish, drop it
}

Batch BatchStream::next() {
  const int64_t k = next_++;
  Batcher::Fetched fetched;
  if (ahead_.valid()) fetched = ahead_.get();
  if (batcher_.has_lazy() && next_ < count_) {
    torch::Tensor rows = rows_of_(next_);
    ahead_ = std::async(std::launch::async, [this, rows] { return batcher_.fetch(rows); });
  }
  return batcher_.gather(rows_of_(k), &fetched);
}

}  // namespace kiln
