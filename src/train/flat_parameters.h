#pragma once
// Packs the trainable parameters into one contiguous buffer, and their gradients into another,
// with every parameter (and its .grad) a view into them. The optimizer, gradient clipping and
// zeroing then run as a few large kernels instead of a few per parameter tensor; the arithmetic
// is the same element by element, since every supported optimizer is elementwise.
#include <torch/types.h>

#include <vector>

namespace kiln {

class FlatParameters {
 public:
  explicit FlatParameters(const std::vector<torch::Tensor>& params);
  // The one tensor to hand to the optimizer; its grad() is the flat gradient buffer.
  const torch::Tensor& flat() const { return flat_; }
  void zero_grad() { grad_.zero_(); }

 private:
  torch::Tensor flat_, grad_;
};

}  // namespace kiln
