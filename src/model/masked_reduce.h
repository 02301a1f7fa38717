#pragma once
// Fused kernels for the hot path of the convolutional text encoders (parallel_cnn): ReLU and the
// masked sum over time in one pass over the convolution's output, instead of writing the
// activations, reading them again for the sum, and three more passes in the backward. On a CPU
// without AMX these passes, not the convolutions, were a third of parallel_cnn's training step
// (memory-bound: the [batch, steps, filters] tensors are 17 MB per branch and step).
#include <torch/types.h>

namespace kiln {

// y [B, T, F] float32 (the last dimension contiguous), mask [B, T] (bool or numeric, nonzero =
// a real step) -> [B, F]: sum over real steps t of max(y[b, t, f], 0). Differentiable in y: the
// gradient is g[b, f] where the step is real and y > 0, else 0 (ReLU's convention at 0).
torch::Tensor masked_relu_sum(const torch::Tensor& y, const torch::Tensor& mask);

}  // namespace kiln
