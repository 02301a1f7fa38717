// Date encoders (input: int64 [batch, 9] = year, month, day, weekday, yearday, hour, minute,
// second, second of the day): embed (an embedding per component, the year standardized) and
// wave (sine and cosine of each periodic component), each followed by fc layers (Ludwig's).
#include <torch/torch.h>

#include <cmath>

#include "config/schema.h"
#include "encoders/encoders.h"
#include "model/components.h"

namespace kiln {
namespace {

// Periods of the components after the year: month, day, weekday, yearday, hour, minute, second,
// second of the day.
const int64_t kPeriods[8] = {12, 31, 7, 366, 24, 60, 60, 86400};

struct DateOptions : Options<DateOptions> {
  int embedding_size = 10;
  FcStackOptions fc;
  DateOptions() { fc.output_size = 10; }
  template <class V>
  void visit(V& v) {
    v("embedding_size", embedding_size, "embed: width of each component's embedding", at_least(1));
    fc.visit_fc_stack(v, "fully connected layers after the components");
  }
};

struct DateEncoder : EncoderBase {
  DateEncoder(const DateOptions& o, const FeatureMetadata& m, bool wave)
      : wave_(wave), year_mean_(m.mean), year_std_(m.std > 0 ? m.std : 1) {
    int64_t width = 1;  // the year
    if (wave_) {
      width += 2 * 8;
    } else {
      for (int i = 0; i < 7; ++i)
        embeds.push_back(register_module("embed" + std::to_string(i),
                                         torch::nn::Embedding(kPeriods[i], o.embedding_size)));
      width += 7 * o.embedding_size + 1;  // + second of the day, scaled to [0, 1)
    }
    fc = register_module("fc", FcStack(width, o.fc));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    auto d = x.to(torch::kLong);
    std::vector<torch::Tensor> parts = {((d.select(1, 0).to(torch::kFloat32) - year_mean_) / year_std_).unsqueeze(1)};
    if (wave_) {
      for (int i = 0; i < 8; ++i) {
        auto angle = d.select(1, i + 1).to(torch::kFloat32) * (2 * M_PI / kPeriods[i]);
        parts.push_back(angle.sin().unsqueeze(1));
        parts.push_back(angle.cos().unsqueeze(1));
      }
    } else {
      for (int i = 0; i < 7; ++i)
        parts.push_back(embeds[i]->forward(d.select(1, i + 1).clamp(0, kPeriods[i] - 1)));
      parts.push_back((d.select(1, 8).to(torch::kFloat32) / 86400.0).unsqueeze(1));
    }
    return fc->forward(torch::cat(parts, 1));
  }
  int64_t output_size() const override { return fc->output_size(); }
  std::vector<torch::nn::Embedding> embeds;
  FcStack fc{nullptr};
  bool wave_;
  double year_mean_, year_std_;
};

}  // namespace

void register_date_encoders() {
  for (bool wave : {false, true}) {
    const std::string key = wave ? "date/wave" : "date/embed";
    register_encoder(key,
                     {wave ? "sine and cosine of each periodic component, then fc layers"
                           : "an embedding per component, then fc layers",
                      {"date"},
                      [] { return std::make_shared<DateOptions>(); }},
                     [wave](const OptionsBase& o, const FeatureMetadata& m) {
                       return std::make_shared<DateEncoder>(dynamic_cast<const DateOptions&>(o), m,
                                                            wave);
                     });
  }
}

}  // namespace kiln
