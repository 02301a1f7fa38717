#include "train/flat_parameters.h"

#include <torch/torch.h>

namespace kiln {

FlatParameters::FlatParameters(const std::vector<torch::Tensor>& params) {
  torch::NoGradGuard no_grad;
  int64_t total = 0;
  for (const auto& p : params) total += p.numel();
  flat_ = torch::empty({total}, torch::kFloat32);
  grad_ = torch::zeros({total}, torch::kFloat32);
  int64_t offset = 0;
  for (auto p : params) {
    const int64_t n = p.numel();
    auto data = flat_.slice(0, offset, offset + n).view(p.sizes());
    data.copy_(p.detach());
    p.set_data(data);
    // A defined grad makes autograd accumulate in place (first-order backward), into the buffer.
    p.mutable_grad() = grad_.slice(0, offset, offset + n).view(p.sizes());
    offset += n;
  }
  flat_.mutable_grad() = grad_;
}

}  // namespace kiln
