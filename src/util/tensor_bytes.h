#pragma once
// Strings stored in torch archives (checkpoints, the preprocessing cache) as uint8 tensors.
#include <torch/torch.h>

#include <cstring>
#include <string>

namespace kiln {

inline torch::Tensor bytes_tensor(const std::string& s) {
  auto t = torch::empty({static_cast<int64_t>(s.size())}, torch::kUInt8);
  if (!s.empty()) std::memcpy(t.data_ptr(), s.data(), s.size());
  return t;
}

inline std::string tensor_bytes(const torch::Tensor& t) {
  auto c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), c.numel());
}

}  // namespace kiln
