// classifier (category): one logit per class.
#include "config/schema.h"
#include "decoders/decoders.h"
#include "decoders/projection.h"

namespace kiln {

void register_classifier_decoder() {
  decoder_schemas().add("category/classifier", {"a linear projection to one logit per class",
                                                {"category"},
                                                [] { return std::make_shared<ProjectionOptions>(); }});
  decoder_builders().add("category/classifier", [](const OptionsBase& o, int64_t in, int64_t n) {
    return std::make_shared<ProjectionDecoder>(dynamic_cast<const ProjectionOptions&>(o), in, n, false);
  });
}

}  // namespace kiln
