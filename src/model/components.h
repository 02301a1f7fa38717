#pragma once
// Interfaces of the ECD model's parts and the registries of their builders, keyed by the same
// names as their schemas (config/schema.h).
#include <torch/nn/module.h>
#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/schema.h"
#include "config/yaml_io.h"
#include "features/metadata.h"
#include "util/registry.h"

namespace kiln {

struct EncoderBase : torch::nn::Module {
  // x: the feature's encoded column for a batch ([B] floats or [B] indices).
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  virtual int64_t output_size() const = 0;
  // > 0: the output keeps the sequence ([B, T, H], reduce_output: null) with this many steps T;
  // output_size() is then T x H, the width once flattened.
  virtual int64_t output_steps() const { return 0; }
  // Called once when training starts from scratch (never when a saved model or checkpoint is
  // loaded): a pretrained encoder loads the weights it starts from.
  virtual void init_pretrained() {}
};

struct CombinerBase : torch::nn::Module {
  virtual torch::Tensor forward(const std::vector<torch::Tensor>& encoded) = 0;
  // The width of the output, per step when output_steps() > 0 (a [B, T, H] output that only a
  // tagger decoder reads).
  virtual int64_t output_size() const = 0;
  virtual int64_t output_steps() const { return 0; }
};

struct DecoderBase : torch::nn::Module {
  virtual torch::Tensor forward(const torch::Tensor& hidden) = 0;  // logits
  // Training with the batch's targets at hand: sequence generators feed the true previous token
  // (teacher forcing); every other decoder ignores the target.
  virtual torch::Tensor forward_teacher(const torch::Tensor& hidden, const torch::Tensor& /*target*/) {
    return forward(hidden);
  }
  // Whether the decoder learns something from the trained model's outputs (a temperature), and
  // learning it from the logits and encoded targets of the validation rows.
  virtual bool calibrates() const { return false; }
  virtual void calibrate(const torch::Tensor& /*logits*/, const torch::Tensor& /*target*/) {}
};

using EncoderBuilder =
    std::function<std::shared_ptr<EncoderBase>(const OptionsBase&, const FeatureMetadata&)>;
// What a combiner is built from: each input feature's encoding width, name, type and time steps
// (EncoderBase::output_steps: 0 unless the encoder keeps the sequence), in the config's
// input_features order.
struct CombinerInputs {
  std::vector<int64_t> sizes;
  std::vector<std::string> names, types;
  std::vector<int64_t> steps;
};
using CombinerBuilder = std::function<std::shared_ptr<CombinerBase>(const OptionsBase&, const CombinerInputs&)>;
// num_outputs: the output feature's output_size (classes, values, vocabulary); the metadata
// gives the rest (a generator's sequence length).
using DecoderBuilder = std::function<std::shared_ptr<DecoderBase>(
    const OptionsBase&, int64_t input_size, int64_t num_outputs, const FeatureMetadata&)>;

Registry<EncoderBuilder>& encoder_builders();  // key "<feature type>/<name>"
Registry<CombinerBuilder>& combiner_builders();
Registry<DecoderBuilder>& decoder_builders();  // key "<feature type>/<name>"

// One call registers a component under its config key: the schema (the options a config may
// give it, what validation checks) and the builder together, so no key has one without the other.
void register_encoder(const std::string& key, ComponentSchema schema, EncoderBuilder build);
void register_combiner(const std::string& name, ComponentSchema schema, CombinerBuilder build);
void register_decoder(const std::string& key, ComponentSchema schema, DecoderBuilder build);

const std::vector<std::string>& activation_names();

// One entry of an fc_layers list ([{output_size: n, dropout: 0.2}, ...]): its width, and the
// options of this layer that differ from the stack's.
struct FcLayer {
  int output_size = 256;
  std::optional<std::string> activation, norm;
  std::optional<double> dropout;
  std::optional<bool> use_bias;
  template <class V>
  void visit(V& v) {
    v("output_size", output_size, "width of this layer", at_least(1));
    v("activation", activation, "this layer's activation (default: the stack's)", one_of_names(activation_names));
    v("norm", norm, "this layer's normalization (default: the stack's)", one_of({"batch", "layer"}));
    v("dropout", dropout, "this layer's dropout (default: the stack's)", in_range(0, 1, false, true));
    v("use_bias", use_bias, "this layer has a bias (default: the stack's)");
  }
};

// The key names under which a component offers its stack's options: Ludwig names them
// differently per component (a combiner's `dropout` is a decoder's `fc_dropout`). nullptr: the
// component does not offer that option (it keeps the default, or sets it from one of its own).
struct FcStackKeys {
  const char* fc_layers = "fc_layers";
  const char* num_fc_layers = "num_fc_layers";
  const char* output_size = "output_size";
  const char* activation = "activation";
  const char* norm = "norm";
  const char* dropout = "dropout";
  const char* residual = nullptr;
  const char* use_bias = nullptr;
};

// The one description of a fully connected stack (Linear → norm → activation → dropout, optional
// residual), shared by combiners, encoders and decoders: each component holds one, sets its own
// defaults in its constructor, and declares it in its visit() under its own key names.
struct FcStackOptions {
  std::vector<FcLayer> fc_layers;       // wins over num_fc_layers when given
  std::optional<int> num_fc_layers = 0; // layers of output_size; unset (null): default_sizes
  int output_size = 256;
  std::string activation = "relu";
  std::optional<std::string> norm;      // batch | layer
  double dropout = 0.0;
  bool residual = false;
  bool use_bias = true;
  std::vector<int> default_sizes;       // not a config key: the component's default layers

  template <class V>
  void visit_fc_stack(V& v, const char* layers_doc, const FcStackKeys& k = FcStackKeys()) {
    v(k.fc_layers, fc_layers, layers_doc);
    v(k.num_fc_layers, num_fc_layers, "number of fully connected layers of output_size", at_least(0));
    v(k.output_size, output_size, "width of each fully connected layer", at_least(1));
    if (k.activation)
      v(k.activation, activation, "activation of the fully connected layers", one_of_names(activation_names));
    if (k.norm) v(k.norm, norm, "normalization in the fully connected layers", one_of({"batch", "layer"}));
    if (k.dropout) v(k.dropout, dropout, "dropout in the fully connected layers", in_range(0, 1, false, true));
    if (k.residual) v(k.residual, residual, "add each layer's input to its output when sizes match");
    if (k.use_bias) v(k.use_bias, use_bias, "the layers have a bias");
  }
  // The widths of the layers to build.
  std::vector<int64_t> layer_sizes() const;
};

class FcStackImpl : public torch::nn::Module {
 public:
  FcStackImpl(int64_t input_size, const FcStackOptions& o);
  torch::Tensor forward(torch::Tensor x);
  int64_t output_size() const { return output_size_; }

 private:
  std::vector<torch::nn::Linear> linears_;
  std::vector<torch::nn::AnyModule> norms_;  // empty for a layer without one
  std::vector<bool> residual_;
  std::vector<std::string> activations_;
  std::vector<double> dropouts_;
  int64_t output_size_;
};
TORCH_MODULE(FcStack);

torch::Tensor activate(const torch::Tensor& x, const std::string& name);

// Reduces h [B, T, H] over time without weights (reduce_output / reduce_input): sum, mean, avg,
// max, last ([B, H]); concat ([B, T*H]); none (h itself). `mask` [B, T], when given, marks the
// real steps (tokens, or pooled steps that cover one), so padding never counts.
torch::Tensor reduce_steps(const torch::Tensor& h, const std::string& mode, const torch::Tensor& mask = {});

}  // namespace kiln
