// concat: concatenates every input encoder's output, then an optional fully connected stack.
#include <torch/torch.h>

#include "combiners/combiners.h"
#include "config/schema.h"
#include "model/components.h"
#include "util/choice.h"

namespace kiln {
namespace {

struct ConcatOptions : Options<ConcatOptions> {
  int num_fc_layers = 0;
  int output_size = 256;
  std::vector<FcLayer> fc_layers;
  double dropout = 0.0;
  std::string activation = "relu";
  std::optional<std::string> norm;
  bool residual = false;
  bool use_bias = true;
  template <class V>
  void visit(V& v) {
    v("num_fc_layers", num_fc_layers, "fully connected layers after the concatenation");
    v("output_size", output_size, "width of each fully connected layer");
    v("fc_layers", fc_layers, "explicit layer list ([{output_size: n}, ...]); overrides the two above");
    v("dropout", dropout, "dropout after each layer");
    v("activation", activation, "activation after each layer");
    v("norm", norm, "batch | layer | null");
    v("residual", residual, "add each layer's input to its output when sizes match");
    v("use_bias", use_bias, "layers have a bias");
  }
  std::vector<std::string> problems() const override {
    std::vector<std::string> p;
    check_choice(p, "activation", activation, activation_names());
    if (norm) check_choice(p, "norm", *norm, {"batch", "layer"});
    if (num_fc_layers < 0) p.push_back("num_fc_layers: expected 0 or more");
    if (output_size < 1) p.push_back("output_size: expected at least 1");
    if (dropout < 0 || dropout >= 1) p.push_back("dropout: expected a value in [0, 1)");
    return p;
  }
};

struct ConcatCombiner : CombinerBase {
  ConcatCombiner(const ConcatOptions& o, const std::vector<int64_t>& sizes) {
    int64_t in = 0;
    for (auto s : sizes) in += s;
    FcStackOptions s = fc_stack_options(o.fc_layers, o.num_fc_layers, o.output_size, o.activation,
                                        o.norm, o.dropout);
    s.residual = o.residual;
    s.use_bias = o.use_bias;
    fc = register_module("fc", FcStack(in, s));
  }
  torch::Tensor forward(const std::vector<torch::Tensor>& encoded) override {
    // Sequence outputs (an encoder with reduce_output: null) are flattened, as in Ludwig.
    std::vector<torch::Tensor> flat;
    flat.reserve(encoded.size());
    for (const auto& e : encoded) flat.push_back(e.dim() > 2 ? e.flatten(1) : e);
    return fc->forward(torch::cat(flat, 1));
  }
  int64_t output_size() const override { return fc->output_size(); }
  FcStack fc{nullptr};
};

}  // namespace

void register_concat_combiner() {
  register_combiner("concat",
                    {"concatenate encoder outputs, then fully connected layers",
                     {},
                     [] { return std::make_shared<ConcatOptions>(); }},
                    [](const OptionsBase& o, const CombinerInputs& in) {
                      return std::make_shared<ConcatCombiner>(dynamic_cast<const ConcatOptions&>(o),
                                                              in.sizes);
                    });
}

}  // namespace kiln
