#include "train/optimizers.h"

#include <torch/optim.h>

#include "config/schema.h"

namespace kiln {
namespace {

struct AdamOptions : Options<AdamOptions> {
  std::vector<double> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool amsgrad = false;
  template <class V>
  void visit(V& v) {
    v("betas", betas, "coefficients of the running averages", in_range(0, 1, false, true));
    v("eps", eps, "added to the denominator", above(0));
    v("weight_decay", weight_decay, "decoupled (adamw) or L2 (adam) weight decay", at_least(0));
    v("amsgrad", amsgrad, "use the AMSGrad variant");
  }
  std::vector<std::string> problems() const override {
    if (betas.size() != 2) return {"betas: expected two numbers"};
    return {};
  }
};

struct SgdOptions : Options<SgdOptions> {
  double momentum = 0.0;
  double weight_decay = 0.0;
  double dampening = 0.0;
  bool nesterov = false;
  template <class V>
  void visit(V& v) {
    v("momentum", momentum, "momentum factor", at_least(0));
    v("weight_decay", weight_decay, "L2 penalty", at_least(0));
    v("dampening", dampening, "dampening for momentum", at_least(0));
    v("nesterov", nesterov, "Nesterov momentum");
  }
};

struct RmspropOptions : Options<RmspropOptions> {
  double momentum = 0.0;
  double alpha = 0.99;
  double eps = 1e-8;
  bool centered = false;
  double weight_decay = 0.0;
  template <class V>
  void visit(V& v) {
    v("momentum", momentum, "momentum factor", at_least(0));
    v("alpha", alpha, "smoothing constant", in_range(0, 1));
    v("eps", eps, "added to the denominator", above(0));
    v("centered", centered, "normalize by the estimated variance");
    v("weight_decay", weight_decay, "L2 penalty", at_least(0));
  }
};

}  // namespace

Registry<OptimizerBuilder>& optimizer_builders() {
  static Registry<OptimizerBuilder> r;
  return r;
}

void register_optimizer(const std::string& name, ComponentSchema schema, OptimizerBuilder build) {
  optimizer_schemas().add(name, std::move(schema));
  optimizer_builders().add(name, std::move(build));
}

void set_learning_rate(torch::optim::Optimizer& opt, double lr) {
  for (auto& g : opt.param_groups()) g.options().set_lr(lr);
}

void register_optimizers() {
  register_optimizer(
      "adam", {"Adam", {}, [] { return std::make_shared<AdamOptions>(); }},
      [](const OptionsBase& o, std::vector<torch::Tensor> p, double lr) {
        const auto& a = dynamic_cast<const AdamOptions&>(o);
        auto opts = torch::optim::AdamOptions(lr)
                        .betas({a.betas[0], a.betas[1]})
                        .eps(a.eps)
                        .weight_decay(a.weight_decay)
                        .amsgrad(a.amsgrad);
        return std::unique_ptr<torch::optim::Optimizer>(new torch::optim::Adam(std::move(p), opts));
      });
  register_optimizer(
      "adamw",
      {"AdamW (decoupled weight decay)", {}, [] { return std::make_shared<AdamOptions>(); }},
      [](const OptionsBase& o, std::vector<torch::Tensor> p, double lr) {
        const auto& a = dynamic_cast<const AdamOptions&>(o);
        auto opts = torch::optim::AdamWOptions(lr)
                        .betas({a.betas[0], a.betas[1]})
                        .eps(a.eps)
                        .weight_decay(a.weight_decay)
                        .amsgrad(a.amsgrad);
        return std::unique_ptr<torch::optim::Optimizer>(
            new torch::optim::AdamW(std::move(p), opts));
      });
  register_optimizer(
      "sgd", {"stochastic gradient descent", {}, [] { return std::make_shared<SgdOptions>(); }},
      [](const OptionsBase& o, std::vector<torch::Tensor> p, double lr) {
        const auto& a = dynamic_cast<const SgdOptions&>(o);
        auto opts = torch::optim::SGDOptions(lr)
                        .momentum(a.momentum)
                        .weight_decay(a.weight_decay)
                        .dampening(a.dampening)
                        .nesterov(a.nesterov);
        return std::unique_ptr<torch::optim::Optimizer>(new torch::optim::SGD(std::move(p), opts));
      });
  register_optimizer("rmsprop", {"RMSprop", {}, [] { return std::make_shared<RmspropOptions>(); }},
                     [](const OptionsBase& o, std::vector<torch::Tensor> p, double lr) {
                       const auto& a = dynamic_cast<const RmspropOptions&>(o);
                       auto opts = torch::optim::RMSpropOptions(lr)
                                       .momentum(a.momentum)
                                       .alpha(a.alpha)
                                       .eps(a.eps)
                                       .centered(a.centered)
                                       .weight_decay(a.weight_decay);
                       return std::unique_ptr<torch::optim::Optimizer>(
                           new torch::optim::RMSprop(std::move(p), opts));
                     });
}

}  // namespace kiln
