#pragma once
// Registration calls of the built-in encoders (listed in components/builtins.cpp), and what the
// sequence combiners borrow from the sequence encoders.
#include <torch/nn/module.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

namespace kiln {

struct EncoderBase;
struct OptionsBase;

// A sequence encoder (registered as "sequence/<name>") that reads steps already embedded
// ([B, steps, width] floats, every step real) instead of token ids: Ludwig's should_embed=False,
// used by the sequence combiner. `reduce_output` replaces the options' own ("none" keeps the steps).
// Returns nullptr when `name` is not such an encoder.
std::shared_ptr<EncoderBase> build_encoder_over_embeddings(const std::string& name, const OptionsBase& options,
                                                           int64_t steps, int64_t width,
                                                           const std::string& reduce_output);
// Reduces [B, T, H] over time (sum | mean | avg | max | last | concat; none returns it as is).
torch::Tensor reduce_over_time(const torch::Tensor& h, const std::string& mode);
// The reduce_output values (null in a config means none): reduce_over_time's, and attention.
const std::vector<std::string>& reduce_modes();

// reduce_output as a module: [B, T, H] (and optionally the [B, T] mask of real steps) -> [B, H].
// Every mode is reduce_over_time's, without weights, except attention (Ludwig's feed-forward
// attention reducer): weights a = softmax over the steps of w . tanh(W h_t + b) (256 hidden
// units), output sum_t a_t h_t. Unlike Ludwig's, padding steps get no weight.
class SequenceReducerImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kAttentionHidden = 256;
  SequenceReducerImpl(std::string mode, int64_t width);
  torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& mask = {});

 private:
  std::string mode_;
  torch::nn::Linear hidden{nullptr}, score{nullptr};
};
TORCH_MODULE(SequenceReducer);

// A pre-norm transformer block (torch's TransformerEncoderLayer with norm_first=True, ReLU):
// x + drop(attn(norm1(x))), then x + drop(ff2(drop(relu(ff1(norm2(x)))))). Time-major [T, B, D];
// `padding` ([B, T], true at padding steps) is masked out of the attention when given.
class PreNormBlockImpl : public torch::nn::Module {
 public:
  PreNormBlockImpl(int64_t d_model, int64_t heads, int64_t ffn, double dropout);
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& padding = {});

 private:
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::MultiheadAttention attn{nullptr};
  torch::nn::Linear ff1{nullptr}, ff2{nullptr};
  torch::nn::Dropout drop{nullptr};
};
TORCH_MODULE(PreNormBlock);

void register_passthrough_encoder();
void register_dense_encoder();
void register_category_encoders();
void register_sequence_encoders();
void register_image_encoders();
void register_date_encoders();
void register_set_encoders();
void register_pretrained_encoders();
void register_forecasting_encoders();  // nbeats, patchtst (timeseries)
}  // namespace kiln
