#include "model/masked_reduce.h"

#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include "util/error.h"

namespace kiln {
namespace {

// Each inner loop runs over the contiguous filters of one step, branch-free (both operands are
// loaded, then selected), so the compiler vectorizes it; a branch on the sign of each value was
// mispredicted half the time and kept the loop scalar.
void relu_sum_rows(const float* __restrict y, const uint8_t* __restrict mask, float* __restrict out, int64_t b0,
                   int64_t b1, int64_t T, int64_t F, int64_t sb, int64_t st) {
  for (int64_t b = b0; b < b1; ++b) {
    float* __restrict o = out + b * F;
    for (int64_t f = 0; f < F; ++f) o[f] = 0.f;
    for (int64_t t = 0; t < T; ++t) {
      if (!mask[b * T + t]) continue;
      const float* __restrict row = y + b * sb + t * st;
      for (int64_t f = 0; f < F; ++f) {
        const float v = row[f];
        o[f] += v > 0.f ? v : 0.f;
      }
    }
  }
}

void relu_sum_grad_rows(const float* __restrict y, const uint8_t* __restrict mask, const float* __restrict g,
                        float* __restrict gy, int64_t r0, int64_t r1, int64_t T, int64_t F, int64_t sb, int64_t st) {
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t b = r / T, t = r % T;
    float* __restrict out = gy + r * F;
    if (!mask[r]) {
      for (int64_t f = 0; f < F; ++f) out[f] = 0.f;
      continue;
    }
    const float* __restrict row = y + b * sb + t * st;
    const float* __restrict gb = g + b * F;
    for (int64_t f = 0; f < F; ++f) {
      const float v = row[f], grad = gb[f];
      out[f] = v > 0.f ? grad : 0.f;
    }
  }
}

class MaskedReluSum : public torch::autograd::Function<MaskedReluSum> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& y,
                               const torch::Tensor& mask) {
    const int64_t B = y.size(0), T = y.size(1), F = y.size(2);
    auto out = torch::empty({B, F}, y.options());
    const float* yp = y.data_ptr<float>();
    const uint8_t* mp = mask.data_ptr<uint8_t>();
    float* op = out.data_ptr<float>();
    const int64_t sb = y.stride(0), st = y.stride(1);
    at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) { relu_sum_rows(yp, mp, op, b0, b1, T, F, sb, st); });
    ctx->save_for_backward({y, mask});
    return out;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const torch::Tensor& y = saved[0];
    const torch::Tensor& mask = saved[1];
    const torch::Tensor g = grads[0].contiguous();
    const int64_t B = y.size(0), T = y.size(1), F = y.size(2);
    // The gradient in y's own layout ([B, T, F], filters innermost), which is the layout the
    // convolution's backward wants.
    auto gy = torch::empty({B, T, F}, y.options());
    const float* yp = y.data_ptr<float>();
    const uint8_t* mp = mask.data_ptr<uint8_t>();
    const float* gp = g.data_ptr<float>();
    float* out = gy.data_ptr<float>();
    const int64_t sb = y.stride(0), st = y.stride(1);
    at::parallel_for(0, B * T, 16, [&](int64_t r0, int64_t r1) {
      relu_sum_grad_rows(yp, mp, gp, out, r0, r1, T, F, sb, st);
    });
    return {gy, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor masked_relu_sum(const torch::Tensor& y, const torch::Tensor& mask) {
  if (y.dim() != 3 || y.scalar_type() != torch::kFloat32 || y.stride(2) != 1 || mask.dim() != 2 ||
      mask.size(0) != y.size(0) || mask.size(1) != y.size(1))
    throw ModelError("masked_relu_sum: expected y [B, T, F] float32 with contiguous filters and mask [B, T]");
  // one byte per step, contiguous: the kernels read it directly
  const torch::Tensor m = mask.ne(0).to(torch::kUInt8).contiguous();
  return MaskedReluSum::apply(y, m);
}

}  // namespace kiln
