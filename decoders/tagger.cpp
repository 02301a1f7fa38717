// tagger (text, sequence outputs; Ludwig's sequence tagger): one label per input step. It reads a
// combiner output that keeps the sequence ([B, T, H]: sequence_concat or sequence with
// reduce_output: null) and projects every step to the output vocabulary, optionally after a
// multi-head self-attention layer over the steps. Logits: [rows, steps, vocabulary].
#include <torch/torch.h>

#include "config/schema.h"
#include "decoders/decoders.h"
#include "model/components.h"

namespace kiln {
namespace {

struct TaggerOptions : Options<TaggerOptions> {
  bool use_attention = false;
  bool use_bias = true;
  int attention_embedding_size = 256;
  int attention_num_heads = 8;
  template <class V>
  void visit(V& v) {
    v("use_attention", use_attention, "self-attention over the steps before the projection");
    v("use_bias", use_bias, "the projection has a bias");
    v("attention_embedding_size", attention_embedding_size, "width of the self-attention", at_least(1));
    v("attention_num_heads", attention_num_heads, "heads of the self-attention (must divide its width)",
      at_least(1));
  }
  std::vector<std::string> problems() const override {
    std::vector<std::string> p;
    if (attention_embedding_size % attention_num_heads != 0)
      p.push_back("attention_num_heads: " + std::to_string(attention_num_heads) +
                  " does not divide attention_embedding_size " + std::to_string(attention_embedding_size));
    return p;
  }
};

struct TaggerDecoder : DecoderBase {
  TaggerDecoder(const TaggerOptions& o, int64_t in, int64_t vocab) {
    int64_t width = in;
    if (o.use_attention) {
      project = register_module("project", torch::nn::Linear(in, o.attention_embedding_size));
      attention = register_module(
          "attention", torch::nn::MultiheadAttention(
                           torch::nn::MultiheadAttentionOptions(o.attention_embedding_size, o.attention_num_heads)));
      width = o.attention_embedding_size;
    }
    out = register_module("out", torch::nn::Linear(torch::nn::LinearOptions(width, vocab).bias(o.use_bias)));
  }
  torch::Tensor forward(const torch::Tensor& hidden) override {  // [B, T, H] → [B, T, vocabulary]
    torch::Tensor h = hidden;
    if (attention) {
      auto x = project->forward(h).transpose(0, 1);  // [T, B, A]
      h = std::get<0>(attention->forward(x, x, x)).transpose(0, 1);
    }
    return out->forward(h);
  }
  torch::nn::Linear project{nullptr}, out{nullptr};
  torch::nn::MultiheadAttention attention{nullptr};
};

}  // namespace

void register_tagger_decoder() {
  for (const char* type : {"text", "sequence"}) {
    const std::string key = std::string(type) + "/tagger";
    register_decoder(key,
                     {"one label per input step, from a combiner that keeps the sequence",
                      {type},
                      [] { return std::make_shared<TaggerOptions>(); }},
                     [](const OptionsBase& o, int64_t in, int64_t vocab, const FeatureMetadata&) {
                       return std::make_shared<TaggerDecoder>(dynamic_cast<const TaggerOptions&>(o),
                                                              in, vocab);
                     });
  }
}

}  // namespace kiln
