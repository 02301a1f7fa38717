// project_aggregate: every input's encoding is projected to projection_size, the projections are
// averaged, then fully connected layers (Ludwig's defaults: 128 wide, 2 layers, layer norm,
// residual, dropout 0.1).
#include <torch/torch.h>

#include "combiners/combiners.h"
#include "config/schema.h"
#include "model/components.h"

namespace kiln {
namespace {

struct ProjectAggregateOptions : Options<ProjectAggregateOptions> {
  int projection_size = 128;
  FcStackOptions fc;
  ProjectAggregateOptions() {
    fc.num_fc_layers = 2, fc.output_size = 128, fc.norm = "layer", fc.dropout = 0.1, fc.residual = true;
  }
  template <class V>
  void visit(V& v) {
    v("projection_size", projection_size, "width every input is projected to", at_least(1));
    FcStackKeys k;
    k.residual = "residual";
    fc.visit_fc_stack(v, "fully connected layers after the average", k);
  }
};

struct ProjectAggregateCombiner : CombinerBase {
  ProjectAggregateCombiner(const ProjectAggregateOptions& o, const std::vector<int64_t>& sizes) {
    for (size_t i = 0; i < sizes.size(); ++i)
      projections.push_back(register_module("project" + std::to_string(i),
                                            torch::nn::Linear(sizes[i], o.projection_size)));
    fc = register_module("fc", FcStack(o.projection_size, o.fc));
  }
  torch::Tensor forward(const std::vector<torch::Tensor>& encoded) override {
    std::vector<torch::Tensor> p;
    for (size_t i = 0; i < encoded.size(); ++i) p.push_back(projections[i]->forward(encoded[i].flatten(1)));
    return fc->forward(torch::stack(p, 0).mean(0));
  }
  int64_t output_size() const override { return fc->output_size(); }
  std::vector<torch::nn::Linear> projections;
  FcStack fc{nullptr};
};

}  // namespace

void register_project_aggregate_combiner() {
  register_combiner("project_aggregate",
                    {"project every input to one width, average, then fc layers",
                     {},
                     [] { return std::make_shared<ProjectAggregateOptions>(); }},
                    [](const OptionsBase& o, const CombinerInputs& in) {
                      return std::make_shared<ProjectAggregateCombiner>(
                          dynamic_cast<const ProjectAggregateOptions&>(o), in.sizes);
                    });
}

}  // namespace kiln
