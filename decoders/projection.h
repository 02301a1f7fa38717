#pragma once
// Shared by regressor and classifier: optional fully connected layers, then a linear projection.
#include <torch/torch.h>

#include "config/yaml_io.h"
#include "model/components.h"

namespace kiln {

struct ProjectionOptions : Options<ProjectionOptions> {
  FcStackOptions fc;
  bool use_bias = true;
  template <class V>
  void visit(V& v) {
    FcStackKeys k;  // Ludwig's decoder names
    k.output_size = "fc_output_size", k.activation = "fc_activation", k.norm = "fc_norm", k.dropout = "fc_dropout";
    fc.visit_fc_stack(v, "fully connected layers before the projection ([{output_size: n}, ...])", k);
    v("use_bias", use_bias, "the projection has a bias");
  }
};

struct ProjectionDecoder : DecoderBase {
  ProjectionDecoder(const ProjectionOptions& o, int64_t in, int64_t out, bool flatten)
      : flatten_(flatten) {
    fc = register_module("fc", FcStack(in, o.fc));
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
