// Forecasting encoders for timeseries inputs, with Ludwig's names, options and defaults:
// - nbeats (Oreshkin et al., 2020): stacks of blocks, each a stack of ReLU layers with a backcast
//   head (subtracted from the block's input: doubly residual) and a forecast head (summed over the
//   blocks); the summed forecast, projected to output_size, is the encoding. (The last block has
//   no backcast head: Ludwig's is never read.)
// - patchtst (Nie et al., 2023): the series cut into patches of patch_size steps every patch_stride,
//   each projected to d_model, plus a learned position embedding, through pre-norm transformer
//   blocks, a final layer norm, reduced over the patches (mean, last or first) and projected to
//   output_size. A series shorter than one patch is padded to one patch.
#include <torch/torch.h>

#include "config/schema.h"
#include "encoders/encoders.h"
#include "features/feature.h"
#include "model/components.h"

namespace kiln {
namespace {

struct NBeatsOptions : Options<NBeatsOptions> {
  int num_stacks = 2, num_blocks = 3, num_layers = 4, layer_size = 256, output_size = 256;
  double dropout = 0.0;
  template <class V>
  void visit(V& v) {
    v("num_stacks", num_stacks, "stacks of blocks", at_least(1));
    v("num_blocks", num_blocks, "blocks per stack", at_least(1));
    v("num_layers", num_layers, "fully connected layers per block", at_least(1));
    v("layer_size", layer_size, "width of the blocks' layers", at_least(1));
    v("output_size", output_size, "width of the forecast vector and of the encoding", at_least(1));
    v("dropout", dropout, "dropout after each layer of a block", in_range(0, 1));
  }
};

class NBeatsBlockImpl : public torch::nn::Module {
 public:
  // The last block's backcast would feed no other block: it has none.
  NBeatsBlockImpl(int64_t input, const NBeatsOptions& o, bool last) {
    int64_t in = input;
    for (int i = 0; i < o.num_layers; ++i) {
      fc->push_back(torch::nn::Linear(in, o.layer_size));
      fc->push_back(torch::nn::ReLU());
      if (o.dropout > 0) fc->push_back(torch::nn::Dropout(o.dropout));
      in = o.layer_size;
    }
    register_module("fc", fc);
    if (!last) backcast = register_module("backcast", torch::nn::Linear(o.layer_size, input));
    forecast = register_module("forecast", torch::nn::Linear(o.layer_size, o.output_size));
  }
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x) {
    auto h = fc->forward(x);
    return {backcast ? backcast->forward(h) : torch::Tensor(), forecast->forward(h)};
  }

 private:
  torch::nn::Sequential fc;
  torch::nn::Linear backcast{nullptr}, forecast{nullptr};
};
TORCH_MODULE(NBeatsBlock);

struct NBeatsEncoder : EncoderBase {
  NBeatsEncoder(const NBeatsOptions& o, int64_t steps) : steps_(steps), size_(o.output_size) {
    for (int s = 0; s < o.num_stacks; ++s)
      for (int b = 0; b < o.num_blocks; ++b)
        blocks.push_back(register_module("stack" + std::to_string(s) + "_block" + std::to_string(b),
                                         NBeatsBlock(steps, o, s + 1 == o.num_stacks && b + 1 == o.num_blocks)));
    project = register_module("project", torch::nn::Linear(o.output_size, o.output_size));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    auto residual = x.reshape({-1, steps_}).to(torch::kFloat32);
    auto forecast = torch::zeros({residual.size(0), size_}, residual.options());
    for (auto& b : blocks) {
      auto [back, fore] = b->forward(residual);
      if (back.defined()) residual = residual - back;
      forecast = forecast + fore;
    }
    return project->forward(forecast);
  }
  int64_t output_size() const override { return size_; }
  int64_t steps_, size_;
  std::vector<NBeatsBlock> blocks;
  torch::nn::Linear project{nullptr};
};

struct PatchTstOptions : Options<PatchTstOptions> {
  int patch_size = 16, patch_stride = 8, d_model = 128, num_heads = 8, num_layers = 3, ffn_dim = 256,
      output_size = 256;
  double dropout = 0.1;
  std::string reduce_output = "mean";
  template <class V>
  void visit(V& v) {
    v("patch_size", patch_size, "steps per patch", at_least(1));
    v("patch_stride", patch_stride, "steps between the starts of consecutive patches", at_least(1));
    v("d_model", d_model, "width of the patch embeddings and transformer blocks", at_least(1));
    v("num_heads", num_heads, "attention heads (must divide d_model)", at_least(1));
    v("num_layers", num_layers, "transformer blocks", at_least(1));
    v("ffn_dim", ffn_dim, "width of each block's feed-forward layer", at_least(1));
    v("dropout", dropout, "dropout in the transformer blocks", in_range(0, 1));
    v("output_size", output_size, "width of the encoding", at_least(1));
    v("reduce_output", reduce_output, "how the patches are reduced", one_of({"mean", "last", "first"}));
  }
  std::vector<std::string> problems() const override {
    if (d_model % num_heads == 0) return {};
    return {"num_heads: " + std::to_string(num_heads) + " does not divide d_model " + std::to_string(d_model)};
  }
};

struct PatchTstEncoder : EncoderBase {
  PatchTstEncoder(const PatchTstOptions& o, int64_t steps)
      : steps_(std::max<int64_t>(steps, o.patch_size)), patch_(o.patch_size), stride_(o.patch_stride),
        size_(o.output_size), mode_(o.reduce_output) {
    const int64_t patches = (steps_ - patch_) / stride_ + 1;
    patch_proj = register_module("patch_proj", torch::nn::Linear(patch_, o.d_model));
    position = register_parameter("position", torch::randn({1, patches, o.d_model}) * 0.02);
    for (int i = 0; i < o.num_layers; ++i)
      blocks.push_back(register_module("block" + std::to_string(i), PreNormBlock(o.d_model, o.num_heads, o.ffn_dim, o.dropout)));
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.d_model})));
    head = register_module("head", torch::nn::Linear(o.d_model, o.output_size));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    auto s = x.reshape({x.size(0), -1}).to(torch::kFloat32);
    if (s.size(1) < steps_) s = torch::constant_pad_nd(s, {0, steps_ - s.size(1)});
    auto h = patch_proj->forward(s.unfold(1, patch_, stride_)) + position;  // [B, P, D]
    h = h.transpose(0, 1);                                                 // [P, B, D]
    for (auto& b : blocks) h = b->forward(h);
    h = norm->forward(h);
    auto r = mode_ == "mean" ? h.mean(0) : mode_ == "last" ? h[h.size(0) - 1] : h[0];
    return head->forward(r);
  }
  int64_t output_size() const override { return size_; }
  int64_t steps_, patch_, stride_, size_;
  std::string mode_;
  torch::nn::Linear patch_proj{nullptr}, head{nullptr};
  torch::Tensor position;
  std::vector<PreNormBlock> blocks;
  torch::nn::LayerNorm norm{nullptr};
};

}  // namespace

void register_forecasting_encoders() {
  register_encoder("timeseries/nbeats",
                   {"N-BEATS: doubly residual stacks of fully connected blocks (backcast and forecast)",
                    {"timeseries"},
                    [] { return std::make_shared<NBeatsOptions>(); }},
                   [](const OptionsBase& o, const FeatureMetadata& m) {
                     return std::make_shared<NBeatsEncoder>(dynamic_cast<const NBeatsOptions&>(o),
                                                            feature_kind(m.type).value_width(m));
                   });
  register_encoder("timeseries/patchtst",
                   {"PatchTST: the series cut into patches, through a pre-norm transformer",
                    {"timeseries"},
                    [] { return std::make_shared<PatchTstOptions>(); }},
                   [](const OptionsBase& o, const FeatureMetadata& m) {
                     return std::make_shared<PatchTstEncoder>(dynamic_cast<const PatchTstOptions&>(o),
                                                              feature_kind(m.type).value_width(m));
                   });
}

}  // namespace kiln
