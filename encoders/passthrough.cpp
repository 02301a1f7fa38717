// passthrough (number, binary, vector): the value itself (1 wide), or the vector itself.
#include <torch/torch.h>

#include "config/schema.h"
#include "features/feature.h"
#include "encoders/encoders.h"
#include "model/components.h"

namespace kiln {
namespace {

struct PassthroughOptions : Options<PassthroughOptions> {
  template <class V>
  void visit(V&) {}
};

struct PassthroughEncoder : EncoderBase {
  explicit PassthroughEncoder(int64_t width) : width_(width) {}
  torch::Tensor forward(const torch::Tensor& x) override { return x.reshape({-1, width_}); }
  int64_t output_size() const override { return width_; }
  int64_t width_;
};

}  // namespace

void register_passthrough_encoder() {
  for (const char* type : {"number", "binary", "vector", "timeseries"}) {
    std::string key = std::string(type) + "/passthrough";
    register_encoder(
        key,
        {"the value itself (1 wide; a vector as it is)",
         {type},
         [] { return std::make_shared<PassthroughOptions>(); }},
        [](const OptionsBase&, const FeatureMetadata& m) {
          return std::make_shared<PassthroughEncoder>(feature_kind(m.type).value_width(m));
        });
  }
}

}  // namespace kiln
