// anomaly (Ludwig's, for anomaly outputs): the anomaly score of a row is the squared distance
// ||z - c||^2 of its representation z (the combiner's output, through optional fully connected
// layers) to a center c. As in Deep SVDD (Ruff et al. 2018), c is the mean representation of the
// first training batch, with coordinates closer to 0 than 0.1 moved to +-0.1 (a center at the
// origin is reached trivially by ReLU units that output 0); it is a buffer, saved with the
// weights, fixed after that first batch.
#include <torch/torch.h>

#include "config/schema.h"
#include "decoders/decoders.h"
#include "model/components.h"

namespace kiln {
namespace {

struct AnomalyDecoderOptions : Options<AnomalyDecoderOptions> {
  FcStackOptions fc;
  AnomalyDecoderOptions() { fc.num_fc_layers = 0; }
  template <class V>
  void visit(V& v) {
    FcStackKeys k;
    k.output_size = "fc_output_size", k.activation = "fc_activation", k.norm = "fc_norm", k.dropout = "fc_dropout";
    fc.visit_fc_stack(v, "fully connected layers before the distance ([{output_size: n}, ...]; none by default)", k);
  }
};

struct AnomalyDecoder : DecoderBase {
  static constexpr double kMinCenter = 0.1;
  AnomalyDecoder(const AnomalyDecoderOptions& o, int64_t in) {
    fc = register_module("fc", FcStack(in, o.fc));
    center = register_buffer("center", torch::zeros({fc->output_size()}));
    centered = register_buffer("centered", torch::zeros({}, torch::kBool));
  }
  torch::Tensor forward(const torch::Tensor& h) override {
    auto z = fc->forward(h);
    if (is_training() && !centered.item<bool>()) {
      torch::NoGradGuard g;
      auto c = z.detach().to(torch::kFloat32).mean(0);
      auto small = c.abs() < kMinCenter;
      c = torch::where(small & (c < 0), torch::full_like(c, -kMinCenter), c);
      c = torch::where(small & (c >= 0), torch::full_like(c, kMinCenter), c);
      center.copy_(c);
      centered.fill_(true);
    }
    auto d = z - center.to(z.dtype()).unsqueeze(0);
    return (d * d).sum(1);
  }
  FcStack fc{nullptr};
  torch::Tensor center, centered;
};

}  // namespace

void register_anomaly_decoder() {
  register_decoder("anomaly/anomaly",
                   {"squared distance of the representation to the center of the training rows (Deep SVDD)",
                    {"anomaly"},
                    [] { return std::make_shared<AnomalyDecoderOptions>(); }},
                   [](const OptionsBase& o, int64_t in, int64_t, const FeatureMetadata&) {
                     return std::make_shared<AnomalyDecoder>(dynamic_cast<const AnomalyDecoderOptions&>(o), in);
                   });
}

}  // namespace kiln
