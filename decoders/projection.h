#pragma once
// Shared by regressor and classifier: optional fully connected layers, then a linear projection.
#include <torch/torch.h>

#include "config/yaml_io.h"
#include "model/components.h"
#include "util/choice.h"

namespace kiln {

struct ProjectionOptions : Options<ProjectionOptions> {
  int num_fc_layers = 0;
  int fc_output_size = 256;
  std::string fc_activation = "relu";
  std::optional<std::string> fc_norm;
  double fc_dropout = 0.0;
  bool use_bias = true;
  template <class V>
  void visit(V& v) {
    v("num_fc_layers", num_fc_layers, "fully connected layers before the projection");
    v("fc_output_size", fc_output_size, "width of those layers");
    v("fc_activation", fc_activation, "their activation");
    v("fc_norm", fc_norm, "batch | layer | null");
    v("fc_dropout", fc_dropout, "their dropout");
    v("use_bias", use_bias, "the projection has a bias");
  }
  std::vector<std::string> problems() const override {
    std::vector<std::string> p;
    check_choice(p, "fc_activation", fc_activation, activation_names());
    if (fc_norm) check_choice(p, "fc_norm", *fc_norm, {"batch", "layer"});
    if (num_fc_layers < 0) p.push_back("num_fc_layers: expected 0 or more");
    if (fc_dropout < 0 || fc_dropout >= 1) p.push_back("fc_dropout: expected a value in [0, 1)");
    return p;
  }
};

struct ProjectionDecoder : DecoderBase {
  ProjectionDecoder(const ProjectionOptions& o, int64_t in, int64_t out, bool flatten)
      : flatten_(flatten) {
    FcStackOptions s;
    s.num_fc_layers = o.num_fc_layers;
    s.output_size = o.fc_output_size;
    s.activation = o.fc_activation;
    s.norm = o.fc_norm;
    s.dropout = o.fc_dropout;
    fc = register_module("fc", FcStack(in, s));
    proj = register_module(
        "proj", torch::nn::Linear(torch::nn::LinearOptions(fc->output_size(), out).bias(o.use_bias)));
  }
  torch::Tensor forward(const torch::Tensor& h) override {
    auto y = proj->forward(fc->forward(h));
    return flatten_ ? y.reshape({-1}) : y;
  }
  FcStack fc{nullptr};
  torch::nn::Linear proj{nullptr};
  bool flatten_;
};

}  // namespace kiln
