// hypernetwork (Ludwig's HyperNetwork combiner, after HyperFusion, arXiv 2403.13319): every
// input projected to hidden_size; the first input, through a small network (hidden_size ->
// hyper_hidden_size -> ReLU -> hidden_size^2), generates a hidden_size x hidden_size matrix per
// row that transforms each other input's projection; the first projection and the transformed ones
// are joined and go through the fully connected stack. The first input feature of the config is
// the conditioning one (metadata that changes how the others are read).
#include <torch/torch.h>

#include "combiners/combiners.h"
#include "config/schema.h"
#include "model/components.h"

namespace kiln {
namespace {

struct HyperNetworkOptions : Options<HyperNetworkOptions> {
  int hidden_size = 128, hyper_hidden_size = 64;
  FcStackOptions fc;
  HyperNetworkOptions() { fc.output_size = 128, fc.dropout = 0.1; }
  template <class V>
  void visit(V& v) {
    v("hidden_size", hidden_size, "width every input is projected to", at_least(1));
    v("hyper_hidden_size", hyper_hidden_size, "width of the network that generates the weights", at_least(1));
    fc.visit_fc_stack(v, "fully connected layers after the inputs are joined ([{output_size: n}, ...]); "
                         "overrides num_fc_layers");
  }
};

struct HyperNetworkCombiner : CombinerBase {
  HyperNetworkCombiner(const HyperNetworkOptions& o, const CombinerInputs& in) : hidden_(o.hidden_size) {
    for (size_t i = 0; i < in.sizes.size(); ++i)
      projectors.push_back(register_module("project" + std::to_string(i), torch::nn::Linear(in.sizes[i], hidden_)));
    hyper = register_module("hyper", torch::nn::Sequential(torch::nn::Linear(hidden_, o.hyper_hidden_size),
                                                           torch::nn::ReLU(),
                                                           torch::nn::Linear(o.hyper_hidden_size, hidden_ * hidden_)));
    fc = register_module("fc", FcStack(hidden_ * static_cast<int64_t>(in.sizes.size()), o.fc));
  }
  torch::Tensor forward(const std::vector<torch::Tensor>& encoded) override {
    std::vector<torch::Tensor> out;
    out.reserve(encoded.size());
    for (size_t i = 0; i < encoded.size(); ++i) out.push_back(projectors[i]->forward(encoded[i].flatten(1)));
    if (out.size() > 1) {
      const auto weights = hyper->forward(out[0]).view({-1, hidden_, hidden_});  // [B, H, H] per row
      for (size_t i = 1; i < out.size(); ++i) out[i] = torch::bmm(weights, out[i].unsqueeze(-1)).squeeze(-1);
    }
    return fc->forward(torch::cat(out, 1));
  }
  int64_t output_size() const override { return fc->output_size(); }
  int64_t hidden_;
  std::vector<torch::nn::Linear> projectors;
  torch::nn::Sequential hyper{nullptr};
  FcStack fc{nullptr};
};

}  // namespace

void register_hypernetwork_combiner() {
  register_combiner("hypernetwork",
                    {"the first input generates the weights that transform the others (HyperFusion)",
                     {},
                     [] { return std::make_shared<HyperNetworkOptions>(); }},
                    [](const OptionsBase& o, const CombinerInputs& in) {
                      return std::make_shared<HyperNetworkCombiner>(dynamic_cast<const HyperNetworkOptions&>(o), in);
                    });
}

}  // namespace kiln
