// concat: concatenates every input encoder's output, then an optional fully connected stack.
#include <torch/torch.h>

#include "combiners/combiners.h"
#include "config/schema.h"
#include "model/components.h"

namespace kiln {
namespace {

struct ConcatOptions : Options<ConcatOptions> {
  FcStackOptions fc;
  template <class V>
  void visit(V& v) {
    FcStackKeys k;
    k.residual = "residual", k.use_bias = "use_bias";
    fc.visit_fc_stack(v, "fully connected layers after the concatenation ([{output_size: n}, ...]); "
                         "overrides num_fc_layers", k);
  }
};

struct ConcatCombiner : CombinerBase {
  ConcatCombiner(const ConcatOptions& o, const std::vector<int64_t>& sizes) {
    int64_t in = 0;
    for (auto s : sizes) in += s;
    fc = register_module("fc", FcStack(in, o.fc));
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
