// Category encoders: dense (a trainable embedding), sparse (a fixed one-hot embedding) and
// onehot (the one-hot vector itself).
#include <torch/torch.h>

#include <algorithm>

#include "config/schema.h"
#include "encoders/encoders.h"
#include "model/components.h"

namespace kiln {
namespace {

struct DenseEmbedOptions : Options<DenseEmbedOptions> {
  int embedding_size = 50;
  bool embeddings_trainable = true;
  double dropout = 0.0;
  template <class V>
  void visit(V& v) {
    v("embedding_size", embedding_size,
      "embedding width (capped at the vocabulary size, as in Ludwig)", at_least(1));
    v("embeddings_trainable", embeddings_trainable, "train the embedding");
    v("dropout", dropout, "dropout on the embedding", in_range(0, 1, false, true));
  }
};

struct SparseOptions : Options<SparseOptions> {
  double dropout = 0.0;
  template <class V>
  void visit(V& v) {
    v("dropout", dropout, "dropout on the one-hot embedding", in_range(0, 1, false, true));
  }
};

struct OnehotOptions : Options<OnehotOptions> {
  template <class V>
  void visit(V&) {}
};

struct EmbedEncoder : EncoderBase {
  EmbedEncoder(int64_t vocab, int64_t size, bool trainable, bool identity, double dropout)
      : size_(size), dropout_(dropout) {
    embed = register_module("embed", torch::nn::Embedding(vocab, size));
    if (identity) {
      torch::NoGradGuard g;
      embed->weight.copy_(torch::eye(vocab, size));
    }
    embed->weight.set_requires_grad(trainable);
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    auto h = embed->forward(x);
    return dropout_ > 0 ? torch::dropout(h, dropout_, is_training()) : h;
  }
  int64_t output_size() const override { return size_; }
  torch::nn::Embedding embed{nullptr};
  int64_t size_;
  double dropout_;
};

struct OnehotEncoder : EncoderBase {
  explicit OnehotEncoder(int64_t vocab) : vocab_(vocab) {}
  torch::Tensor forward(const torch::Tensor& x) override {
    return torch::one_hot(x, vocab_).to(torch::kFloat32);
  }
  int64_t output_size() const override { return vocab_; }
  int64_t vocab_;
};

}  // namespace

void register_category_encoders() {
  register_encoder("category/dense",
                   {"a trainable embedding per value",
                    {"category"},
                    [] { return std::make_shared<DenseEmbedOptions>(); }},
                   [](const OptionsBase& o, const FeatureMetadata& m) {
                     const auto& d = dynamic_cast<const DenseEmbedOptions&>(o);
                     int64_t size = std::min<int64_t>(d.embedding_size, m.vocab_size());
                     return std::make_shared<EmbedEncoder>(
                         m.vocab_size(), size, d.embeddings_trainable, false, d.dropout);
                   });
  register_encoder(
      "category/sparse",
      {"a fixed one-hot embedding", {"category"}, [] { return std::make_shared<SparseOptions>(); }},
      [](const OptionsBase& o, const FeatureMetadata& m) {
        const auto& d = dynamic_cast<const SparseOptions&>(o);
        return std::make_shared<EmbedEncoder>(m.vocab_size(), m.vocab_size(), false, true,
                                              d.dropout);
      });
  register_encoder(
      "category/onehot",
      {"the one-hot vector", {"category"}, [] { return std::make_shared<OnehotOptions>(); }},
      [](const OptionsBase&, const FeatureMetadata& m) {
        return std::make_shared<OnehotEncoder>(m.vocab_size());
      });
}

}  // namespace kiln
