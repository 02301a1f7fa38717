// classifier (category: one logit per class; set: one logit per token).
#include "config/schema.h"
#include "decoders/decoders.h"
#include "decoders/projection.h"

namespace kiln {

double fit_temperature(const torch::Tensor& logits, const torch::Tensor& target, bool binary) {
  namespace F = torch::nn::functional;
  auto x = logits.detach().to(torch::kFloat64);
  auto y = target.detach().reshape({-1});
  auto nll = [&](double t) {
    if (binary) return F::binary_cross_entropy_with_logits(x.reshape({-1}) / t, y.to(torch::kFloat64)).item<double>();
    return F::cross_entropy(x / t, y.to(torch::kLong), F::CrossEntropyFuncOptions().ignore_index(-100)).item<double>();
  };
  if (x.numel() == 0) return 1.0;
  // Golden-section search on log T (the loss is unimodal in it).
  const double g = (std::sqrt(5.0) - 1) / 2;
  double a = std::log(0.05), b = std::log(20.0);
  double c = b - g * (b - a), d = a + g * (b - a);
  double fc = nll(std::exp(c)), fd = nll(std::exp(d));
  for (int i = 0; i < 60; ++i) {
    if (fc < fd) {
      b = d, d = c, fd = fc, c = b - g * (b - a), fc = nll(std::exp(c));
    } else {
      a = c, c = d, fc = fd, d = a + g * (b - a), fd = nll(std::exp(d));
    }
  }
  return std::exp((a + b) / 2);
}

void register_classifier_decoder() {
  for (auto [type, doc] :
       {std::pair<const char*, const char*>{"category", "a linear projection to one logit per class"},
        {"set", "a linear projection to one logit per token (multi-label)"}}) {
    const std::string key = std::string(type) + "/classifier";
    register_decoder(
        key,
        {doc,
         {type},
         [type = std::string(type)] {
           auto o = std::make_shared<ProjectionOptions>();
           o->classes = type == "category";
           return o;
         }},
        [](const OptionsBase& o, int64_t in, int64_t n, const FeatureMetadata&) {
          return std::make_shared<ProjectionDecoder>(dynamic_cast<const ProjectionOptions&>(o), in,
                                                     n, false);
        });
  }
}

}  // namespace kiln
