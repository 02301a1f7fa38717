// dense (number, binary, vector): a stack of fully connected layers over the value (1 wide) or the
// vector.
#include <torch/torch.h>

#include "config/schema.h"
#include "features/feature.h"
#include "encoders/encoders.h"
#include "model/components.h"

namespace kiln {
namespace {

struct DenseOptions : Options<DenseOptions> {
  FcStackOptions fc;
  DenseOptions() { fc.num_fc_layers = 1; }
  template <class V>
  void visit(V& v) {
    FcStackKeys k;
    k.num_fc_layers = "num_layers", k.use_bias = "use_bias";
    fc.visit_fc_stack(v, "explicit layer list ([{output_size: n}, ...]); overrides num_layers", k);
  }
};

struct DenseEncoder : EncoderBase {
  DenseEncoder(const DenseOptions& o, int64_t width) : width_(width) {
    fc = register_module("fc", FcStack(width, o.fc));
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
