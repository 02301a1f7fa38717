// set and bag encoder `embed` (Ludwig's set/bag embed): the multi-hot (set) or count (bag) row
// times a token embedding matrix, i.e. the sum of the present tokens' embeddings (weighted by
// their counts for bags), then optional fully connected layers.
#include <torch/torch.h>

#include "config/schema.h"
#include "encoders/encoders.h"
#include "model/components.h"

namespace kiln {
namespace {

struct SetEmbedOptions : Options<SetEmbedOptions> {
  int embedding_size = 50;
  std::string representation = "dense";
  bool embeddings_trainable = true;
  FcStackOptions fc;
  SetEmbedOptions() { fc.output_size = 10; }
  template <class V>
  void visit(V& v) {
    v("embedding_size", embedding_size, "width of each token's embedding (dense)", at_least(1));
    v("representation", representation, "dense (trainable embedding) | sparse (one-hot: the row itself)",
      one_of({"dense", "sparse"}));
    v("embeddings_trainable", embeddings_trainable, "train the embedding");
    fc.visit_fc_stack(v, "fully connected layers after the embedding sum");
  }
};

struct SetEmbedEncoder : EncoderBase {
  SetEmbedEncoder(const SetEmbedOptions& o, int64_t vocab) {
    const bool sparse = o.representation == "sparse";
    const int64_t width = sparse ? vocab : o.embedding_size;
    if (!sparse) {
      embedding = register_parameter("embedding", torch::randn({vocab, width}) * (1.0 / std::sqrt(double(width))),
                                     o.embeddings_trainable);
    }
    fc = register_module("fc", FcStack(width, o.fc));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    return fc->forward(embedding.defined() ? torch::mm(x, embedding) : x);
  }
  int64_t output_size() const override { return fc->output_size(); }
  torch::Tensor embedding;
  FcStack fc{nullptr};
};

}  // namespace

void register_set_encoders() {
  for (auto [type, doc] : {std::pair<const char*, const char*>{"set", "sum of the tokens' embeddings, then fc layers"},
                           {"bag", "sum of the counted tokens' embeddings, then fc layers"}}) {
    const std::string key = std::string(type) + "/embed";
    register_encoder(key,
                     {doc,
                      {type},
                      [] { return std::make_shared<SetEmbedOptions>(); }},
                     [](const OptionsBase& o, const FeatureMetadata& m) {
                       return std::make_shared<SetEmbedEncoder>(
                           dynamic_cast<const SetEmbedOptions&>(o), m.vocab_size());
                     });
  }
}

}  // namespace kiln
