// transformer and ft_transformer combiners: every input feature's encoding is projected to
// hidden_size and becomes one token; self-attention blocks mix the tokens. transformer reduces
// the tokens (reduce_output, default mean); ft_transformer (FT-Transformer) prepends a learned
// [CLS] token and uses its output. Then fully connected layers, as in Ludwig. tabtransformer
// attends over the non-numeric inputs only (below).
#include <torch/torch.h>

#include "combiners/combiners.h"
#include "config/schema.h"
#include "encoders/encoders.h"
#include "features/feature.h"
#include "model/components.h"
#include "util/error.h"
#include "util/strings.h"

namespace kiln {
namespace {

// Options of the attention combiners (transformer, ft_transformer, tabtransformer).
struct TransformerFields {
  int num_layers = 1;
  int hidden_size = 256;
  int num_heads = 8;
  int transformer_output_size = 256;
  double dropout = 0.1;
  std::string reduce_output = "mean";
  FcStackOptions fc;
  template <class V>
  void visit_fields(V& v) {
    v("num_layers", num_layers, "number of transformer blocks", at_least(1));
    v("hidden_size", hidden_size, "width each input is projected to (one token per input)", at_least(1));
    v("num_heads", num_heads, "attention heads (must divide hidden_size)", at_least(1));
    v("transformer_output_size", transformer_output_size, "width of each block's feed-forward layer", at_least(1));
    v("dropout", dropout, "dropout in the transformer blocks", in_range(0, 1, false, true));
    v("reduce_output", reduce_output, "transformer, tabtransformer: reduction over the tokens",
      one_of({"mean", "sum", "max", "concat", "attention"}));
    FcStackKeys k;  // Ludwig's names for this combiner
    k.activation = "fc_activation", k.dropout = "fc_dropout";
    fc.visit_fc_stack(v, "fully connected layers after the transformer", k);
  }
  std::vector<std::string> field_problems() const {
    std::vector<std::string> p;
    if (hidden_size % num_heads != 0)
      p.push_back("num_heads: " + std::to_string(num_heads) + " does not divide hidden_size " +
                  std::to_string(hidden_size));
    return p;
  }
};

struct TransformerCombinerOptions : Options<TransformerCombinerOptions>, TransformerFields {
  template <class V>
  void visit(V& v) {
    visit_fields(v);
  }
  std::vector<std::string> problems() const override { return field_problems(); }
};

struct TabTransformerOptions : Options<TabTransformerOptions>, TransformerFields {
  std::optional<std::string> embed_input_feature_name;
  TabTransformerOptions() { reduce_output = "concat"; }
  template <class V>
  void visit(V& v) {
    visit_fields(v);
    v("embed_input_feature_name", embed_input_feature_name,
      "null | add (a learned embedding per input added to its token) | N (one of width N concatenated)");
  }
  std::vector<std::string> problems() const override {
    auto p = field_problems();
    if (embed_input_feature_name && *embed_input_feature_name != "add") {
      int64_t n = 0;
      if (!parse_int(*embed_input_feature_name, n) || n < 1 || n >= hidden_size)
        p.push_back("embed_input_feature_name: expected null, add, or a width from 1 to hidden_size - 1, got '" +
                    *embed_input_feature_name + "'");
    }
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
    if (!cls_) reducer = register_module("reduce", SequenceReducer(reduce_, o.hidden_size));
    fc = register_module("fc", FcStack(width, o.fc));
  }
  torch::Tensor forward(const std::vector<torch::Tensor>& encoded) override {
    std::vector<torch::Tensor> tokens;
    for (size_t i = 0; i < encoded.size(); ++i)
      tokens.push_back(projections[i]->forward(encoded[i].flatten(1)));
    auto h = torch::stack(tokens, 0);  // [T, B, H]
    if (cls_) h = torch::cat({cls_token.expand({1, h.size(1), h.size(2)}), h}, 0);
    for (auto& b : blocks) h = b->forward(h);
    return fc->forward(cls_ ? h[0] : reducer->forward(h.transpose(0, 1)));
  }
  int64_t output_size() const override { return fc->output_size(); }
  std::vector<torch::nn::Linear> projections;
  torch::Tensor cls_token;
  std::vector<torch::nn::TransformerEncoderLayer> blocks;
  FcStack fc{nullptr};
  SequenceReducer reducer{nullptr};
  bool cls_;
  std::string reduce_;
};

// tabtransformer (Huang et al. 2020, as Ludwig's): the inputs that are not number or binary
// become tokens (projected to hidden_size, optionally with a learned per-input embedding added
// or concatenated), attention blocks contextualize them; the reduced tokens are joined with the
// layer-normalized number and binary encodings, then fully connected layers.
struct TabTransformerCombiner : CombinerBase {
  TabTransformerCombiner(const TabTransformerOptions& o, const CombinerInputs& in) : reduce_(o.reduce_output) {
    for (size_t i = 0; i < in.sizes.size(); ++i) {
      if (feature_kind(in.types[i]).scalar_value()) side_.push_back(i), side_width_ += in.sizes[i];
      else tokens_.push_back(i);
    }
    if (tokens_.empty())
      throw ConfigError("combiner tabtransformer: every input is a number or binary feature, so there is nothing "
                        "to attend over (use concat or ft_transformer)");
    int64_t name_width = 0;
    if (o.embed_input_feature_name) {
      add_names_ = *o.embed_input_feature_name == "add";
      name_width = add_names_ ? o.hidden_size : std::stoll(*o.embed_input_feature_name);
      names = register_module("input_names", torch::nn::Embedding(static_cast<int64_t>(tokens_.size()), name_width));
    }
    const int64_t projected = o.hidden_size - (names && !add_names_ ? name_width : 0);
    for (size_t k = 0; k < tokens_.size(); ++k)
      projections.push_back(register_module("project" + std::to_string(k),
                                            torch::nn::Linear(in.sizes[tokens_[k]], projected)));
    for (int i = 0; i < o.num_layers; ++i)
      blocks.push_back(register_module(
          "block" + std::to_string(i),
          torch::nn::TransformerEncoderLayer(torch::nn::TransformerEncoderLayerOptions(o.hidden_size, o.num_heads)
                                                 .dim_feedforward(o.transformer_output_size)
                                                 .dropout(o.dropout))));
    if (side_width_ > 0) norm = register_module("side_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({side_width_})));
    const int64_t reduced = reduce_ == "concat" ? static_cast<int64_t>(tokens_.size()) * o.hidden_size : o.hidden_size;
    reducer = register_module("reduce", SequenceReducer(reduce_, o.hidden_size));
    fc = register_module("fc", FcStack(reduced + side_width_, o.fc));
  }
  torch::Tensor forward(const std::vector<torch::Tensor>& encoded) override {
    std::vector<torch::Tensor> t;
    for (size_t k = 0; k < tokens_.size(); ++k) t.push_back(projections[k]->forward(encoded[tokens_[k]].flatten(1)));
    auto h = torch::stack(t, 0);  // [T, B, P]
    if (names) {
      auto e = names->forward(torch::arange(static_cast<int64_t>(tokens_.size()), torch::kLong)).unsqueeze(1);
      e = e.expand({e.size(0), h.size(1), e.size(2)});
      h = add_names_ ? h + e : torch::cat({h, e}, 2);
    }
    for (auto& b : blocks) h = b->forward(h);
    torch::Tensor out = reducer->forward(h.transpose(0, 1));
    if (side_width_ > 0) {
      std::vector<torch::Tensor> s;
      for (size_t i : side_) s.push_back(encoded[i].dim() > 2 ? encoded[i].flatten(1) : encoded[i]);
      out = torch::cat({out, norm->forward(torch::cat(s, 1))}, 1);
    }
    return fc->forward(out);
  }
  int64_t output_size() const override { return fc->output_size(); }
  std::vector<size_t> tokens_, side_;
  int64_t side_width_ = 0;
  bool add_names_ = false;
  std::string reduce_;
  SequenceReducer reducer{nullptr};
  torch::nn::Embedding names{nullptr};
  std::vector<torch::nn::Linear> projections;
  std::vector<torch::nn::TransformerEncoderLayer> blocks;
  torch::nn::LayerNorm norm{nullptr};
  FcStack fc{nullptr};
};

}  // namespace

void register_transformer_combiners() {
  register_combiner("tabtransformer",
                    {"TabTransformer: attention over the non-numeric inputs, joined with the "
                     "normalized number and binary inputs",
                     {},
                     [] { return std::make_shared<TabTransformerOptions>(); }},
                    [](const OptionsBase& o, const CombinerInputs& in) {
                      return std::make_shared<TabTransformerCombiner>(
                          dynamic_cast<const TabTransformerOptions&>(o), in);
                    });
  for (bool cls : {false, true}) {
    const std::string name = cls ? "ft_transformer" : "transformer";
    register_combiner(name,
                      {cls ? "FT-Transformer: one token per input plus [CLS], attention blocks"
                           : "one token per input, attention blocks, reduced",
                       {},
                       [] { return std::make_shared<TransformerCombinerOptions>(); }},
                      [cls](const OptionsBase& o, const CombinerInputs& in) {
                        return std::make_shared<TransformerCombiner>(
                            dynamic_cast<const TransformerCombinerOptions&>(o), in.sizes, cls);
                      });
  }
}

}  // namespace kiln
