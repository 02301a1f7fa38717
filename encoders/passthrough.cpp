// passthrough (number, binary): the value itself as a 1-wide vector.
#include <torch/torch.h>

#include "config/schema.h"
#include "encoders/encoders.h"
#include "model/components.h"

namespace kiln {
namespace {

struct PassthroughOptions : Options<PassthroughOptions> {
  template <class V>
  void visit(V&) {}
};

struct PassthroughEncoder : EncoderBase {
  torch::Tensor forward(const torch::Tensor& x) override { return x.reshape({-1, 1}); }
  int64_t output_size() const override { return 1; }
};

}  // namespace

void register_passthrough_encoder() {
  for (const char* type : {"number", "binary"}) {
    std::string key = std::string(type) + "/passthrough";
    encoder_schemas().add(key, {"the value itself (1 wide)", {type},
                                [] { return std::make_shared<PassthroughOptions>(); }});
    encoder_builders().add(key, [](const OptionsBase&, const FeatureMetadata&) {
      return std::make_shared<PassthroughEncoder>();
    });
  }
}

}  // namespace kiln
