// concat: concatenates every input encoder's output, then an optional fully connected stack.
#include <torch/torch.h>

#include "combiners/combiners.h"
#include "config/schema.h"
#include "model/components.h"

namespace kiln {
namespace {

struct ConcatOptions : Options<ConcatOptions> {
  FcStackOptions fc;
  bool flatten_inputs = false;
  template <class V>
  void visit(V& v) {
    FcStackKeys k;
    k.residual = "residual", k.use_bias = "use_bias";
    fc.visit_fc_stack(v, "fully connected layers after the concatenation ([{output_size: n}, ...]); "
                         "overrides num_fc_layers", k);
    v("flatten_inputs", flatten_inputs,
      "flatten a single input's steps (an encoder with reduce_output: null) into one vector; false (Ludwig's "
      "default) keeps them: the fc layers apply to every step, a tagger labels each, other outputs reduce them "
      "with their reduce_input. Several inputs are always flattened and joined");
  }
};

// A single input that keeps its steps ([B, T, H]) stays a sequence unless flatten_inputs, as in
// Ludwig; otherwise every input is flattened and the inputs are joined.
struct ConcatCombiner : CombinerBase {
  ConcatCombiner(const ConcatOptions& o, const CombinerInputs& in)
      : steps_(!o.flatten_inputs && in.sizes.size() == 1 ? in.steps[0] : 0) {
    int64_t width = 0;
    for (auto s : in.sizes) width += s;
    if (steps_ > 0) width /= steps_;  // an encoder that keeps steps reports steps * width
    fc = register_module("fc", FcStack(width, o.fc));
  }
  torch::Tensor forward(const std::vector<torch::Tensor>& encoded) override {
    if (steps_ > 0) return fc->forward(encoded[0]);
    std::vector<torch::Tensor> flat;
    flat.reserve(encoded.size());
    for (const auto& e : encoded) flat.push_back(e.dim() > 2 ? e.flatten(1) : e);
    return fc->forward(torch::cat(flat, 1));
  }
  int64_t output_size() const override { return fc->output_size(); }
  int64_t output_steps() const override { return steps_; }
  FcStack fc{nullptr};
  int64_t steps_;
};

}  // namespace

void register_concat_combiner() {
  register_combiner("concat",
                    {"concatenate encoder outputs, then fully connected layers",
                     {},
                     [] { return std::make_shared<ConcatOptions>(); }},
                    [](const OptionsBase& o, const CombinerInputs& in) {
                      return std::make_shared<ConcatCombiner>(dynamic_cast<const ConcatOptions&>(o), in);
                    });
}

}  // namespace kiln
