// transformer and ft_transformer combiners: every input feature's encoding is projected to
// hidden_size and becomes one token; self-attention blocks mix the tokens. transformer reduces
// the tokens (reduce_output, default mean); ft_transformer (FT-Transformer) prepends a learned
// [CLS] token and uses its output. Then fully connected layers, as in Ludwig.
#include <torch/torch.h>

#include "combiners/combiners.h"
#include "config/schema.h"
#include "model/components.h"
#include "util/choice.h"

namespace kiln {
namespace {

struct TransformerCombinerOptions : Options<TransformerCombinerOptions> {
  int num_layers = 1;
  int hidden_size = 256;
  int num_heads = 8;
  int transformer_output_size = 256;
  double dropout = 0.1;
  std::string reduce_output = "mean";
  std::vector<FcLayer> fc_layers;
  int num_fc_layers = 0;
  int output_size = 256;
  std::string fc_activation = "relu";
  double fc_dropout = 0.0;
  std::optional<std::string> norm;
  template <class V>
  void visit(V& v) {
    v("num_layers", num_layers, "number of transformer blocks");
    v("hidden_size", hidden_size, "width each input is projected to (one token per input)");
    v("num_heads", num_heads, "attention heads (must divide hidden_size)");
    v("transformer_output_size", transformer_output_size, "width of each block's feed-forward layer");
    v("dropout", dropout, "dropout in the transformer blocks");
    v("reduce_output", reduce_output, "transformer: mean | sum | max | concat over the tokens");
    v("fc_layers", fc_layers, "fully connected layers after the transformer");
    v("num_fc_layers", num_fc_layers, "number of fully connected layers of output_size");
    v("output_size", output_size, "width of each fully connected layer");
    v("fc_activation", fc_activation, "activation of the fully connected layers");
    v("fc_dropout", fc_dropout, "dropout in the fully connected layers");
    v("norm", norm, "batch | layer | null: normalization in the fully connected layers");
  }
  std::vector<std::string> problems() const override {
    std::vector<std::string> p;
    if (num_layers < 1) p.push_back("num_layers: expected at least 1");
    if (hidden_size < 1) p.push_back("hidden_size: expected at least 1");
    if (num_heads < 1) p.push_back("num_heads: expected at least 1");
    if (num_heads >= 1 && hidden_size % num_heads != 0)
      p.push_back("num_heads: " + std::to_string(num_heads) + " does not divide hidden_size " +
                  std::to_string(hidden_size));
    if (transformer_output_size < 1) p.push_back("transformer_output_size: expected at least 1");
    if (dropout < 0 || dropout >= 1) p.push_back("dropout: expected a value in [0, 1)");
    check_choice(p, "reduce_output", reduce_output, {"mean", "sum", "max", "concat"});
    check_choice(p, "fc_activation", fc_activation, activation_names());
    if (norm) check_choice(p, "norm", *norm, {"batch", "layer"});
    if (num_fc_layers < 0) p.push_back("num_fc_layers: expected 0 or more");
    if (fc_dropout < 0 || fc_dropout >= 1) p.push_back("fc_dropout: expected a value in [0, 1)");
    return p;
  }
};

struct TransformerCombiner : CombinerBase {
  TransformerCombiner(const TransformerCombinerOptions& o, const std::vector<int64_t>& sizes, bool cls)
      : cls_(cls), reduce_(o.reduce_output) {
    for (size_t i = 0; i < sizes.size(); ++i)
      projections.push_back(register_module("project" + std::to_string(i),
                                            torch::nn::Linear(sizes[i], o.hidden_size)));
    if (cls_) cls_token = register_parameter("cls", torch::randn({1, 1, o.hidden_size}) * 0.02);
    for (int i = 0; i < o.num_layers; ++i)
      blocks.push_back(register_module(
          "block" + std::to_string(i),
          torch::nn::TransformerEncoderLayer(
              torch::nn::TransformerEncoderLayerOptions(o.hidden_size, o.num_heads)
                  .dim_feedforward(o.transformer_output_size)
                  .dropout(o.dropout))));
    const int64_t tokens = static_cast<int64_t>(sizes.size());
    const int64_t width = !cls_ && reduce_ == "concat" ? tokens * o.hidden_size : o.hidden_size;
    fc = register_module("fc", FcStack(width, fc_stack_options(o.fc_layers, o.num_fc_layers, o.output_size,
                                                               o.fc_activation, o.norm, o.fc_dropout)));
  }
  torch::Tensor forward(const std::vector<torch::Tensor>& encoded) override {
    std::vector<torch::Tensor> tokens;
    for (size_t i = 0; i < encoded.size(); ++i)
      tokens.push_back(projections[i]->forward(encoded[i].flatten(1)));
    auto h = torch::stack(tokens, 0);  // [T, B, H]
    if (cls_) h = torch::cat({cls_token.expand({1, h.size(1), h.size(2)}), h}, 0);
    for (auto& b : blocks) h = b->forward(h);
    torch::Tensor out;
    if (cls_) out = h[0];
    else if (reduce_ == "sum") out = h.sum(0);
    else if (reduce_ == "max") out = std::get<0>(h.max(0));
    else if (reduce_ == "concat") out = h.transpose(0, 1).flatten(1);
    else out = h.mean(0);
    return fc->forward(out);
  }
  int64_t output_size() const override { return fc->output_size(); }
  std::vector<torch::nn::Linear> projections;
  torch::Tensor cls_token;
  std::vector<torch::nn::TransformerEncoderLayer> blocks;
  FcStack fc{nullptr};
  bool cls_;
  std::string reduce_;
};

}  // namespace

void register_transformer_combiners() {
  for (bool cls : {false, true}) {
    const std::string name = cls ? "ft_transformer" : "transformer";
    combiner_schemas().add(name, {cls ? "FT-Transformer: one token per input plus [CLS], attention blocks"
                                      : "one token per input, attention blocks, reduced",
                                  {}, [] { return std::make_shared<TransformerCombinerOptions>(); }});
    combiner_builders().add(name, [cls](const OptionsBase& o, const std::vector<int64_t>& sizes) {
      return std::make_shared<TransformerCombiner>(dynamic_cast<const TransformerCombinerOptions&>(o),
                                                   sizes, cls);
    });
  }
}

}  // namespace kiln
