// set and bag encoder `embed` (Ludwig's set/bag embed): the multi-hot (set) or count (bag) row
// times a token embedding matrix, i.e. the sum of the present tokens' embeddings (weighted by
// their counts for bags), then optional fully connected layers.
#include <torch/torch.h>

#include "config/schema.h"
#include "encoders/encoders.h"
#include "model/components.h"
#include "util/choice.h"

namespace kiln {
namespace {

struct SetEmbedOptions : Options<SetEmbedOptions> {
  int embedding_size = 50;
  std::string representation = "dense";
  bool embeddings_trainable = true;
  std::vector<FcLayer> fc_layers;
  int num_fc_layers = 0;
  int output_size = 10;
  std::string activation = "relu";
  std::optional<std::string> norm;
  double dropout = 0.0;
  template <class V>
  void visit(V& v) {
    v("embedding_size", embedding_size, "width of each token's embedding (dense)");
    v("representation", representation, "dense (trainable embedding) | sparse (one-hot: the row itself)");
    v("embeddings_trainable", embeddings_trainable, "train the embedding");
    v("fc_layers", fc_layers, "fully connected layers after the embedding sum");
    v("num_fc_layers", num_fc_layers, "number of fully connected layers of output_size");
    v("output_size", output_size, "width of each fully connected layer");
    v("activation", activation, "activation of the fully connected layers");
    v("norm", norm, "batch | layer | null");
    v("dropout", dropout, "dropout in the fully connected layers");
  }
  std::vector<std::string> problems() const override {
    std::vector<std::string> p;
    if (embedding_size < 1) p.push_back("embedding_size: expected at least 1");
    check_choice(p, "representation", representation, {"dense", "sparse"});
    check_choice(p, "activation", activation, activation_names());
    if (norm) check_choice(p, "norm", *norm, {"batch", "layer"});
    if (num_fc_layers < 0) p.push_back("num_fc_layers: expected 0 or more");
    if (dropout < 0 || dropout >= 1) p.push_back("dropout: expected a value in [0, 1)");
    return p;
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
    fc = register_module("fc", FcStack(width, fc_stack_options(o.fc_layers, o.num_fc_layers, o.output_size,
                                                               o.activation, o.norm, o.dropout)));
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
  for (const char* type : {"set", "bag"}) {
    const std::string key = std::string(type) + "/embed";
    encoder_schemas().add(key, {std::string("sum of the ") + (type == std::string("bag") ? "counted " : "") +
                                    "tokens' embeddings, then fc layers",
                                {type},
                                [] { return std::make_shared<SetEmbedOptions>(); }});
    encoder_builders().add(key, [](const OptionsBase& o, const FeatureMetadata& m) {
      return std::make_shared<SetEmbedEncoder>(dynamic_cast<const SetEmbedOptions&>(o), m.vocab_size());
    });
  }
}

}  // namespace kiln
