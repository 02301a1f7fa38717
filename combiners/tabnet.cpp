// tabnet (Arik & Pfister 2019, as Ludwig's TabNet combiner): the concatenated encoder outputs go
// through num_steps decision steps. In each, an attentive transformer turns the previous step's
// attention features into a sparse feature mask (sparsemax, scaled by how much each feature was
// used before: relaxation_factor), and a feature transformer (GLU blocks, the first
// num_shared_blocks with fully connected layers shared by all steps) processes the masked features; the ReLU of each step's
// decision part is summed and projected to output_size. Batch norms are "ghost" batch norms over
// virtual batches of bn_virtual_bs rows.
#include <torch/torch.h>

#include <cmath>

#include "combiners/combiners.h"
#include "config/schema.h"
#include "model/components.h"

namespace kiln {
namespace {

struct TabNetOptions : Options<TabNetOptions> {
  int size = 32;
  int output_size = 128;
  int num_steps = 3;
  int num_total_blocks = 4;
  int num_shared_blocks = 2;
  double relaxation_factor = 1.5;
  double bn_epsilon = 1e-3;
  double bn_momentum = 0.05;
  int bn_virtual_bs = 1024;
  double sparsity = 1e-4;
  std::string entmax_mode = "sparsemax";
  double dropout = 0.05;
  template <class V>
  void visit(V& v) {
    v("size", size, "width of the attention part of each step (N_a)", at_least(1));
    v("output_size", output_size, "width of the decision part of each step and of the output (N_d)", at_least(1));
    v("num_steps", num_steps, "decision steps", at_least(1));
    v("num_total_blocks", num_total_blocks, "GLU blocks in each feature transformer", at_least(1));
    v("num_shared_blocks", num_shared_blocks, "of those, blocks shared by every step", at_least(0));
    v("relaxation_factor", relaxation_factor, "how much a feature may be reused across steps (1: once)",
      at_least(1));
    v("bn_epsilon", bn_epsilon, "batch norm epsilon", above(0));
    v("bn_momentum", bn_momentum, "batch norm momentum", in_range(0, 1));
    v("bn_virtual_bs", bn_virtual_bs, "rows per virtual batch of the ghost batch norms", at_least(1));
    v("sparsity", sparsity, "accepted for Ludwig configs; the mask-entropy regularizer is not applied");
    v("entmax_mode", entmax_mode, "the mask's normalizer", one_of({"sparsemax"}));
    v("dropout", dropout, "dropout on the concatenated inputs", in_range(0, 1, false, true));
  }
  std::vector<std::string> problems() const override {
    if (num_shared_blocks > num_total_blocks) return {"num_shared_blocks: expected 0 to num_total_blocks"};
    return {};
  }
};

// Sparsemax over dim 1 (Martins & Astudillo 2016): the Euclidean projection onto the simplex.
// Written with differentiable ops, so autograd gives its exact Jacobian.
torch::Tensor sparsemax(const torch::Tensor& z) {
  auto sorted = std::get<0>(z.sort(1, /*descending=*/true));
  auto k = torch::arange(1, z.size(1) + 1, z.options()).unsqueeze(0);
  auto cumsum = sorted.cumsum(1);
  auto support = (1 + k * sorted) > cumsum;
  auto k_z = support.sum(1, true);
  auto tau = (cumsum.gather(1, k_z - 1) - 1) / k_z.to(z.dtype());
  return torch::clamp_min(z - tau, 0);
}

class GhostBatchNormImpl : public torch::nn::Module {
 public:
  GhostBatchNormImpl(int64_t width, const TabNetOptions& o) : virtual_bs_(o.bn_virtual_bs) {
    bn = register_module("bn", torch::nn::BatchNorm1d(
                                   torch::nn::BatchNorm1dOptions(width).eps(o.bn_epsilon).momentum(o.bn_momentum)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    if (!is_training() || x.size(0) <= virtual_bs_) return bn->forward(x);
    std::vector<torch::Tensor> parts;
    for (auto& chunk : x.split(virtual_bs_, 0)) parts.push_back(bn->forward(chunk));
    return torch::cat(parts, 0);
  }
  torch::nn::BatchNorm1d bn{nullptr};

 private:
  int64_t virtual_bs_;
};
TORCH_MODULE(GhostBatchNorm);

// Linear to twice the width, ghost batch norm, gated linear unit. The linear layer may be one of
// the combiner's shared layers (owned and registered there); the batch norm is always the block's
// own: shared blocks see each step's differently masked inputs, so one running mean and variance
// for all steps would match none of them at evaluation (as in TabNet's paper and Ludwig, only the
// fully connected layers are shared).
class GluBlockImpl : public torch::nn::Module {
 public:
  GluBlockImpl(int64_t in, int64_t width, const TabNetOptions& o, torch::nn::Linear shared_fc) {
    fc = shared_fc ? shared_fc
                   : register_module("fc", torch::nn::Linear(torch::nn::LinearOptions(in, 2 * width).bias(false)));
    bn = register_module("bn", GhostBatchNorm(2 * width, o));
  }
  torch::Tensor forward(const torch::Tensor& x) { return torch::glu(bn->forward(fc->forward(x)), 1); }
  torch::nn::Linear fc{nullptr};
  GhostBatchNorm bn{nullptr};
};
TORCH_MODULE(GluBlock);

// A feature transformer: blocks applied in order; from the second on, residual and scaled by
// sqrt(1/2).
torch::Tensor run_blocks(std::vector<GluBlock>& blocks, torch::Tensor x) {
  const double scale = std::sqrt(0.5);
  for (size_t i = 0; i < blocks.size(); ++i) {
    auto y = blocks[i]->forward(x);
    x = i == 0 ? y : (x + y) * scale;
  }
  return x;
}

struct TabNetCombiner : CombinerBase {
  TabNetCombiner(const TabNetOptions& o, const std::vector<int64_t>& sizes)
      : o_(o), width_(o.size + o.output_size) {
    for (auto s : sizes) in_ += s;
    input_bn = register_module("input_bn", torch::nn::BatchNorm1d(torch::nn::BatchNorm1dOptions(in_).momentum(o.bn_momentum)));
    for (int i = 0; i < o.num_shared_blocks; ++i)
      shared_fc.push_back(register_module(
          "shared_fc" + std::to_string(i),
          torch::nn::Linear(torch::nn::LinearOptions(i == 0 ? in_ : width_, 2 * width_).bias(false))));
    // Feature transformers: one before the first step, then one per step.
    for (int s = 0; s <= o.num_steps; ++s) {
      std::vector<GluBlock> blocks;
      for (int i = 0; i < o.num_total_blocks; ++i)
        blocks.push_back(register_module(
            "step" + std::to_string(s) + "_block" + std::to_string(i),
            GluBlock(i == 0 ? in_ : width_, width_, o,
                     i < o.num_shared_blocks ? shared_fc[i] : torch::nn::Linear(nullptr))));
      step_blocks.push_back(blocks);
    }
    for (int s = 0; s < o.num_steps; ++s) {
      attention_fc.push_back(register_module("attention" + std::to_string(s),
                                             torch::nn::Linear(torch::nn::LinearOptions(o.size, in_).bias(false))));
      attention_bn.push_back(register_module("attention_bn" + std::to_string(s), GhostBatchNorm(in_, o)));
    }
    final_projection = register_module("final_projection", torch::nn::Linear(o.output_size, o.output_size));
  }

  torch::Tensor feature_transform(const torch::Tensor& x, size_t step) {
    return run_blocks(step_blocks[step], x);
  }

  torch::Tensor forward(const std::vector<torch::Tensor>& encoded) override {
    std::vector<torch::Tensor> flat;
    for (const auto& e : encoded) flat.push_back(e.dim() > 2 ? e.flatten(1) : e);
    auto features = torch::cat(flat, 1);
    if (o_.dropout > 0) features = torch::dropout(features, o_.dropout, is_training());
    features = input_bn->forward(features);
    auto x = feature_transform(features, 0);
    auto prior = torch::ones_like(features);
    auto out = torch::zeros({features.size(0), o_.output_size}, features.options());
    for (int s = 0; s < o_.num_steps; ++s) {
      auto a = x.slice(1, o_.output_size);
      auto mask = sparsemax(attention_bn[s]->forward(attention_fc[s]->forward(a)) * prior);
      prior = prior * (o_.relaxation_factor - mask);
      x = feature_transform(mask * features, s + 1);
      out = out + torch::relu(x.slice(1, 0, o_.output_size));
    }
    return final_projection->forward(out);
  }
  int64_t output_size() const override { return o_.output_size; }

  TabNetOptions o_;
  int64_t in_ = 0, width_;
  torch::nn::BatchNorm1d input_bn{nullptr};
  std::vector<torch::nn::Linear> shared_fc;
  std::vector<std::vector<GluBlock>> step_blocks;
  std::vector<torch::nn::Linear> attention_fc;
  std::vector<GhostBatchNorm> attention_bn;
  torch::nn::Linear final_projection{nullptr};
};

}  // namespace

void register_tabnet_combiner() {
  register_combiner("tabnet",
                    {"TabNet: sequential attention over the inputs with sparse feature masks",
                     {},
                     [] { return std::make_shared<TabNetOptions>(); }},
                    [](const OptionsBase& o, const CombinerInputs& in) {
                      return std::make_shared<TabNetCombiner>(dynamic_cast<const TabNetOptions&>(o),
                                                              in.sizes);
                    });
}

}  // namespace kiln
