#pragma once
// Shared by regressor and classifier: optional fully connected layers, then a linear projection.
#include <torch/torch.h>

#include "config/yaml_io.h"
#include "model/components.h"

namespace kiln {

// Temperature scaling (Guo et al., ICML 2017; Ludwig's decoder key `calibration`): after training,
// one scalar T > 0 fitted on the validation rows (the training rows without any) by minimizing the
// cross-entropy of logits / T; every later forward pass divides the logits by T. The argmax (the
// predicted class) never changes; the probabilities become more faithful.
const char* const kCalibrationDoc = "temperature_scaling: divide the logits by one temperature fitted on the "
                                    "validation rows after training (the predicted class never changes)";
// The T in [0.05, 20] minimizing the mean cross-entropy of logits / T against the targets (binary:
// [n] logits and 0/1 targets; categories: [n, C] logits and class indices, -100 ignored).
double fit_temperature(const torch::Tensor& logits, const torch::Tensor& target, bool binary);

struct ProjectionOptions : Options<ProjectionOptions> {
  FcStackOptions fc;
  bool use_bias = true;
  bool classes = false;  // not a key: a class output's decoder, which may be calibrated
  std::optional<std::string> calibration;
  template <class V>
  void visit(V& v) {
    FcStackKeys k;  // Ludwig's decoder names
    k.output_size = "fc_output_size", k.activation = "fc_activation", k.norm = "fc_norm", k.dropout = "fc_dropout";
    fc.visit_fc_stack(v, "fully connected layers before the projection ([{output_size: n}, ...])", k);
    v("use_bias", use_bias, "the projection has a bias");
    if (classes) v("calibration", calibration, kCalibrationDoc, one_of({"temperature_scaling"}));
  }
};

struct ProjectionDecoder : DecoderBase {
  ProjectionDecoder(const ProjectionOptions& o, int64_t in, int64_t out, bool flatten)
      : flatten_(flatten) {
    fc = register_module("fc", FcStack(in, o.fc));
    proj = register_module(
        "proj", torch::nn::Linear(torch::nn::LinearOptions(fc->output_size(), out).bias(o.use_bias)));
    // A buffer only when asked for, so the weights of every other decoder keep their names.
    if (o.calibration) temperature = register_buffer("temperature", torch::ones({1}));
  }
  torch::Tensor forward(const torch::Tensor& h) override {
    auto y = proj->forward(fc->forward(h));
    if (temperature.defined()) y = y / temperature.to(y.dtype());
    return flatten_ ? y.reshape({-1}) : y;
  }
  bool calibrates() const override { return temperature.defined(); }
  void calibrate(const torch::Tensor& logits, const torch::Tensor& target) override {
    torch::NoGradGuard g;
    const double now = temperature.item<double>();  // the logits given are already divided by it
    temperature.fill_(now * fit_temperature(logits, target, flatten_));
  }
  FcStack fc{nullptr};
  torch::nn::Linear proj{nullptr};
  torch::Tensor temperature;
  bool flatten_;
};

}  // namespace kiln
