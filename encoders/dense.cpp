// dense (number, binary, vector): a stack of fully connected layers over the value (1 wide) or the
// vector.
#include <torch/torch.h>

#include "config/schema.h"
#include "features/feature.h"
#include "encoders/encoders.h"
#include "model/components.h"
#include "util/choice.h"

namespace kiln {
namespace {

struct DenseOptions : Options<DenseOptions> {
  int output_size = 256;
  int num_layers = 1;
  std::string activation = "relu";
  std::optional<std::string> norm;
  double dropout = 0.0;
  bool use_bias = true;
  template <class V>
  void visit(V& v) {
    v("output_size", output_size, "width of each layer");
    v("num_layers", num_layers, "number of fully connected layers");
    v("activation", activation, "activation after each layer");
    v("norm", norm, "batch | layer | null");
    v("dropout", dropout, "dropout after each layer");
    v("use_bias", use_bias, "layers have a bias");
  }
  std::vector<std::string> problems() const override {
    std::vector<std::string> p;
    check_choice(p, "activation", activation, activation_names());
    if (norm) check_choice(p, "norm", *norm, {"batch", "layer"});
    if (output_size < 1) p.push_back("output_size: expected at least 1");
    if (num_layers < 1) p.push_back("num_layers: expected at least 1");
    if (dropout < 0 || dropout >= 1) p.push_back("dropout: expected a value in [0, 1)");
    return p;
  }
};

struct DenseEncoder : EncoderBase {
  DenseEncoder(const DenseOptions& o, int64_t width) : width_(width) {
    FcStackOptions s;
    s.num_fc_layers = o.num_layers;
    s.output_size = o.output_size;
    s.activation = o.activation;
    s.norm = o.norm;
    s.dropout = o.dropout;
    s.use_bias = o.use_bias;
    fc = register_module("fc", FcStack(width, s));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    return fc->forward(x.reshape({-1, width_}));
  }
  int64_t output_size() const override { return fc->output_size(); }
  FcStack fc{nullptr};
  int64_t width_;
};

}  // namespace

void register_dense_encoder() {
  for (const char* type : {"number", "binary", "vector", "timeseries"}) {
    std::string key = std::string(type) + "/dense";
    register_encoder(key,
                     {"fully connected layers over the value",
                      {type},
                      [] { return std::make_shared<DenseOptions>(); }},
                     [](const OptionsBase& o, const FeatureMetadata& m) {
                       // vector: the row's values (sequence_length of them); number and binary: one
                       // value.
                       return std::make_shared<DenseEncoder>(dynamic_cast<const DenseOptions&>(o),
                                                             feature_kind(m.type).value_width(m));
                     });
  }
}

}  // namespace kiln
