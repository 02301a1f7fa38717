// regressor (number, binary): one output per row (the value, or the logit of true); projector
// (vector, timeseries): one output per position.
#include "config/schema.h"
#include "decoders/decoders.h"
#include "decoders/projection.h"

namespace kiln {

void register_regressor_decoder() {
  for (const char* type : {"number", "binary"}) {
    std::string key = std::string(type) + "/regressor";
    register_decoder(key,
                     {"a linear projection to one value",
                      {type},
                      [binary = std::string(type) == "binary"] {
                        auto o = std::make_shared<ProjectionOptions>();
                        o->classes = binary;  // the logit of true may be calibrated
                        return o;
                      }},
                     [](const OptionsBase& o, int64_t in, int64_t, const FeatureMetadata&) {
                       return std::make_shared<ProjectionDecoder>(
                           dynamic_cast<const ProjectionOptions&>(o), in, 1, true);
                     });
  }
  // projector (vector, timeseries): one value per position (per step of the horizon), all at once.
  for (const char* type : {"vector", "timeseries"})
    register_decoder(std::string(type) + "/projector",
                     {"a linear projection to every value of the vector (every step of the forecast)",
                      {type},
                      [] { return std::make_shared<ProjectionOptions>(); }},
                     [](const OptionsBase& o, int64_t in, int64_t n, const FeatureMetadata&) {
                       return std::make_shared<ProjectionDecoder>(
                           dynamic_cast<const ProjectionOptions&>(o), in, n, false);
                     });
}

}  // namespace kiln
