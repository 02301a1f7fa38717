// regressor (number, binary): one output per row (the value, or the logit of true).
#include "config/schema.h"
#include "decoders/decoders.h"
#include "decoders/projection.h"

namespace kiln {

void register_regressor_decoder() {
  for (const char* type : {"number", "binary"}) {
    std::string key = std::string(type) + "/regressor";
    decoder_schemas().add(key, {"a linear projection to one value", {type},
                                [] { return std::make_shared<ProjectionOptions>(); }});
    decoder_builders().add(key, [](const OptionsBase& o, int64_t in, int64_t) {
      return std::make_shared<ProjectionDecoder>(dynamic_cast<const ProjectionOptions&>(o), in, 1, true);
    });
  }
}

}  // namespace kiln
