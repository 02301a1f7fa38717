#include "model/components.h"

#include <torch/torch.h>

#include <limits>

namespace kiln {

Registry<EncoderBuilder>& encoder_builders() {
  static Registry<EncoderBuilder> r;
  return r;
}
Registry<CombinerBuilder>& combiner_builders() {
  static Registry<CombinerBuilder> r;
  return r;
}
Registry<DecoderBuilder>& decoder_builders() {
  static Registry<DecoderBuilder> r;
  return r;
}

void register_encoder(const std::string& key, ComponentSchema schema, EncoderBuilder build) {
  encoder_schemas().add(key, std::move(schema));
  encoder_builders().add(key, std::move(build));
}
void register_combiner(const std::string& name, ComponentSchema schema, CombinerBuilder build) {
  combiner_schemas().add(name, std::move(schema));
  combiner_builders().add(name, std::move(build));
}
void register_decoder(const std::string& key, ComponentSchema schema, DecoderBuilder build) {
  decoder_schemas().add(key, std::move(schema));
  decoder_builders().add(key, std::move(build));
}

const std::vector<std::string>& activation_names() {
  static const std::vector<std::string> names = {"relu", "leakyRelu", "elu", "gelu",
                                                 "tanh", "sigmoid", "linear", "none"};
  return names;
}

torch::Tensor activate(const torch::Tensor& x, const std::string& name) {
  if (name == "relu") return torch::relu(x);
  if (name == "leakyRelu") return torch::leaky_relu(x, 0.01);
  if (name == "elu") return torch::elu(x);
  if (name == "gelu") return torch::gelu(x);
  if (name == "tanh") return torch::tanh(x);
  if (name == "sigmoid") return torch::sigmoid(x);
  return x;  // linear / none
}

std::vector<int64_t> FcStackOptions::layer_sizes() const {
  std::vector<int64_t> sizes;
  if (!fc_layers.empty())
    for (const auto& l : fc_layers) sizes.push_back(l.output_size);
  else if (num_fc_layers)
    sizes.assign(*num_fc_layers, output_size);
  else
    sizes.assign(default_sizes.begin(), default_sizes.end());
  return sizes;
}

FcStackImpl::FcStackImpl(int64_t input_size, const FcStackOptions& o) : output_size_(input_size) {
  const std::vector<int64_t> sizes = o.layer_sizes();
  int64_t in = input_size;
  for (size_t i = 0; i < sizes.size(); ++i) {
    // An fc_layers entry may set its own options; the stack's apply otherwise.
    const FcLayer* l = i < o.fc_layers.size() ? &o.fc_layers[i] : nullptr;
    const bool bias = l && l->use_bias ? *l->use_bias : o.use_bias;
    const std::optional<std::string> norm = l && l->norm ? l->norm : o.norm;
    auto lin = torch::nn::Linear(torch::nn::LinearOptions(in, sizes[i]).bias(bias));
    linears_.push_back(register_module("fc" + std::to_string(i), lin));
    if (norm && *norm == "batch")
      norms_.emplace_back(register_module("norm" + std::to_string(i), torch::nn::BatchNorm1d(sizes[i])));
    else if (norm && *norm == "layer")
      norms_.emplace_back(register_module(
          "norm" + std::to_string(i),
          torch::nn::LayerNorm(torch::nn::LayerNormOptions({sizes[i]}))));
    else
      norms_.emplace_back();
    activations_.push_back(l && l->activation ? *l->activation : o.activation);
    dropouts_.push_back(l && l->dropout ? *l->dropout : o.dropout);
    residual_.push_back(o.residual && in == sizes[i]);
    in = sizes[i];
  }
  output_size_ = in;
}

torch::Tensor FcStackImpl::forward(torch::Tensor x) {
  if (x.dim() == 3 && !linears_.empty()) {  // a sequence: the same layers on every step
    const int64_t b = x.size(0), t = x.size(1);
    return forward(x.flatten(0, 1)).view({b, t, -1});
  }
  for (size_t i = 0; i < linears_.size(); ++i) {
    auto h = linears_[i]->forward(x);
    if (!norms_[i].is_empty()) h = norms_[i].forward(h);
    h = activate(h, activations_[i]);
    if (dropouts_[i] > 0) h = torch::dropout(h, dropouts_[i], is_training());
    x = residual_[i] ? h + x : h;
  }
  return x;
}

torch::Tensor reduce_steps(const torch::Tensor& h, const std::string& mode, const torch::Tensor& mask) {
  if (mode == "none") return h;
  if (mode == "concat") return h.flatten(1);
  const bool masked = mask.defined() && mask.size(1) == h.size(1);
  if (mode == "sum" || mode == "mean" || mode == "avg") {
    // A masked sum is a batched vector-matrix product: no [B, T, H] temporary, and its gradient
    // ([B, T, H], time-major) has the layout of h, so the backward passes before it stay dense.
    auto s = masked ? torch::bmm(mask.to(h.dtype()).unsqueeze(1), h).squeeze(1) : h.sum(1);
    if (mode == "sum") return s;
    auto n = masked ? mask.sum(1, true).to(h.dtype()).clamp_min(1)
                    : torch::full({h.size(0), 1}, static_cast<double>(h.size(1)), h.options());
    return s / n;
  }
  if (mode == "max") {
    if (!masked) return std::get<0>(h.max(1));
    auto pad = mask.logical_not().unsqueeze(2);
    auto x = std::get<0>(h.masked_fill(pad, -std::numeric_limits<float>::infinity()).max(1));
    return torch::where(mask.any(1, true), x, torch::zeros_like(x));
  }
  // last: the last real step (with left padding, the last position).
  torch::Tensor idx;
  if (masked) {
    auto pos = torch::arange(h.size(1), mask.options().dtype(torch::kLong)).unsqueeze(0);
    idx = (pos * mask.to(torch::kLong)).amax(1);
  } else {
    idx = torch::full({h.size(0)}, h.size(1) - 1, torch::kLong);
  }
  return h.index({torch::arange(h.size(0), torch::kLong), idx});
}


}  // namespace kiln
