// classifier (category: one logit per class; set: one logit per token).
#include "config/schema.h"
#include "decoders/decoders.h"
#include "decoders/projection.h"

namespace kiln {

void register_classifier_decoder() {
  for (auto [type, doc] :
       {std::pair<const char*, const char*>{"category", "a linear projection to one logit per class"},
        {"set", "a linear projection to one logit per token (multi-label)"}}) {
    const std::string key = std::string(type) + "/classifier";
    register_decoder(
        key,
        {doc,
         {type},
         [] { return std::make_shared<ProjectionOptions>(); }},
        [](const OptionsBase& o, int64_t in, int64_t n, const FeatureMetadata&) {
          return std::make_shared<ProjectionDecoder>(dynamic_cast<const ProjectionOptions&>(o), in,
                                                     n, false);
        });
  }
}

}  // namespace kiln
