// project_aggregate: every input's encoding is projected to projection_size, the projections are
// averaged, then fully connected layers (Ludwig's defaults: 128 wide, 2 layers, layer norm,
// residual, dropout 0.1).
#include <torch/torch.h>

#include "combiners/combiners.h"
#include "config/schema.h"
#include "model/components.h"
#include "util/choice.h"

namespace kiln {
namespace {

struct ProjectAggregateOptions : Options<ProjectAggregateOptions> {
  int projection_size = 128;
  std::vector<FcLayer> fc_layers;
  int num_fc_layers = 2;
  int output_size = 128;
  std::string activation = "relu";
  std::optional<std::string> norm = std::string("layer");
  double dropout = 0.1;
  bool residual = true;
  template <class V>
  void visit(V& v) {
    v("projection_size", projection_size, "width every input is projected to");
    v("fc_layers", fc_layers, "fully connected layers after the average");
    v("num_fc_layers", num_fc_layers, "number of fully connected layers of output_size");
    v("output_size", output_size, "width of each fully connected layer");
    v("activation", activation, "activation of the fully connected layers");
    v("norm", norm, "batch | layer | null");
    v("dropout", dropout, "dropout in the fully connected layers");
    v("residual", residual, "add each layer's input to its output when sizes match");
  }
  std::vector<std::string> problems() const override {
    std::vector<std::string> p;
    if (projection_size < 1) p.push_back("projection_size: expected at least 1");
    check_choice(p, "activation", activation, activation_names());
    if (norm) check_choice(p, "norm", *norm, {"batch", "layer"});
    if (num_fc_layers < 0) p.push_back("num_fc_layers: expected 0 or more");
    if (dropout < 0 || dropout >= 1) p.push_back("dropout: expected a value in [0, 1)");
    return p;
  }
};

struct ProjectAggregateCombiner : CombinerBase {
  ProjectAggregateCombiner(const ProjectAggregateOptions& o, const std::vector<int64_t>& sizes) {
    for (size_t i = 0; i < sizes.size(); ++i)
      projections.push_back(register_module("project" + std::to_string(i),
                                            torch::nn::Linear(sizes[i], o.projection_size)));
    FcStackOptions s = fc_stack_options(o.fc_layers, o.num_fc_layers, o.output_size, o.activation,
                                        o.norm, o.dropout);
    s.residual = o.residual;
    fc = register_module("fc", FcStack(o.projection_size, s));
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
