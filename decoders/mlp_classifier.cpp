// mlp_classifier (Ludwig's, for binary and category outputs): a stack of fully connected layers
// (one by default) before the projection to logits, its options under their plain names
// (output_size, activation, dropout) where the classifier and regressor say fc_output_size, ...
#include "config/schema.h"
#include "decoders/decoders.h"
#include "decoders/projection.h"

namespace kiln {
namespace {

struct MlpClassifierOptions : Options<MlpClassifierOptions> {
  FcStackOptions fc;
  std::optional<std::string> calibration;
  MlpClassifierOptions() { fc.num_fc_layers = 1; }
  template <class V>
  void visit(V& v) {
    FcStackKeys k;
    k.use_bias = "use_bias";
    fc.visit_fc_stack(v, "fully connected layers before the projection ([{output_size: n}, ...])", k);
    v("calibration", calibration, kCalibrationDoc, one_of({"temperature_scaling"}));
  }
};

}  // namespace

void register_mlp_classifier_decoder() {
  for (auto [type, flatten] : {std::pair<const char*, bool>{"binary", true}, {"category", false}}) {
    register_decoder(
        std::string(type) + "/mlp_classifier",
        {"fully connected layers (one of 256 by default), then a linear projection to the logits",
         {type},
         [] { return std::make_shared<MlpClassifierOptions>(); }},
        [flatten = flatten](const OptionsBase& o, int64_t in, int64_t n, const FeatureMetadata&) {
          const auto& m = dynamic_cast<const MlpClassifierOptions&>(o);
          ProjectionOptions p;
          p.fc = m.fc;
          p.use_bias = m.fc.use_bias;
          p.calibration = m.calibration;
          return std::make_shared<ProjectionDecoder>(p, in, flatten ? 1 : n, flatten);  // binary: one logit
        });
  }
}

}  // namespace kiln
