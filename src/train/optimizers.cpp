#include "train/optimizers.h"

#include <torch/optim.h>

#include <cmath>

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

// L-BFGS (libtorch's port of torch.optim.LBFGS): each training step runs up to max_iter iterations on
// the step's batch, re-evaluating the loss through a closure (Ludwig's use: one full-batch step).
struct LbfgsOptions : Options<LbfgsOptions> {
  int max_iter = 20;
  std::optional<int> max_eval;
  double tolerance_grad = 1e-7;
  double tolerance_change = 1e-9;
  int history_size = 100;
  std::optional<std::string> line_search_fn;
  template <class V>
  void visit(V& v) {
    v("max_iter", max_iter, "iterations per training step", at_least(1));
    v("max_eval", max_eval, "loss evaluations per step (default: max_iter x 1.25)", at_least(1));
    v("tolerance_grad", tolerance_grad, "stop when the largest gradient entry is below this", at_least(0));
    v("tolerance_change", tolerance_change, "stop when the loss or the step changes less than this", at_least(0));
    v("history_size", history_size, "curvature pairs kept", at_least(1));
    v("line_search_fn", line_search_fn, "strong_wolfe, or null for fixed steps of learning_rate",
      one_of({"strong_wolfe"}));
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

struct AdagradOptions : Options<AdagradOptions> {
  double lr_decay = 0.0;
  double weight_decay = 0.0;
  double initial_accumulator_value = 0.0;
  double eps = 1e-10;
  template <class V>
  void visit(V& v) {
    v("lr_decay", lr_decay, "learning rate decay per step", at_least(0));
    v("weight_decay", weight_decay, "L2 penalty", at_least(0));
    v("initial_accumulator_value", initial_accumulator_value, "starting sum of squared gradients", at_least(0));
    v("eps", eps, "added to the denominator", above(0));
  }
};

// Adamax, NAdam, RAdam: Adam's options (betas, eps, L2 weight_decay); NAdam adds momentum_decay.
struct AdamaxOptions : Options<AdamaxOptions> {
  std::vector<double> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0.0;
  double momentum_decay = 0.004;  // nadam only
  bool nadam = false;
  template <class V>
  void visit(V& v) {
    v("betas", betas, "coefficients of the running averages", in_range(0, 1, false, true));
    v("eps", eps, "added to the denominator", above(0));
    v("weight_decay", weight_decay, "L2 penalty", at_least(0));
    if (nadam) v("momentum_decay", momentum_decay, "decay of the momentum schedule", at_least(0));
  }
  std::vector<std::string> problems() const override {
    if (betas.size() != 2) return {"betas: expected two numbers"};
    return {};
  }
};

struct AdadeltaOptions : Options<AdadeltaOptions> {
  double rho = 0.9;
  double eps = 1e-6;
  double weight_decay = 0.0;
  template <class V>
  void visit(V& v) {
    v("rho", rho, "coefficient of the running averages", in_range(0, 1));
    v("eps", eps, "added inside the square roots", above(0));
    v("weight_decay", weight_decay, "L2 penalty", at_least(0));
  }
};

// The learning rate of a RuleOptimizer's parameter group.
struct RuleGroupOptions : torch::optim::OptimizerCloneableOptions<RuleGroupOptions> {
  double lr = 0.001;
  explicit RuleGroupOptions(double l = 0.001) : lr(l) {}
  double get_lr() const override { return lr; }
  void set_lr(const double l) override { lr = l; }
};

std::unique_ptr<torch::optim::Optimizer> rule_optimizer(std::vector<torch::Tensor> p, double lr, double weight_decay,
                                                        std::vector<std::string> fields, RuleOptimizer::Rule rule) {
  return std::make_unique<RuleOptimizer>(std::move(p), lr, weight_decay, std::move(fields), std::move(rule));
}

}  // namespace

RuleOptimizer::RuleOptimizer(std::vector<torch::Tensor> params, double lr, double weight_decay,
                             std::vector<std::string> fields, Rule rule)
    : Optimizer({torch::optim::OptimizerParamGroup(std::move(params))}, std::make_unique<RuleGroupOptions>(lr)),
      weight_decay_(weight_decay),
      fields_(std::move(fields)),
      rule_(std::move(rule)) {}

torch::Tensor RuleOptimizer::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    torch::AutoGradMode enable(true);
    loss = closure();
  }
  for (auto& group : param_groups_) {
    const double lr = group.options().get_lr();
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const std::string key = c10::guts::to_string(p.unsafeGetTensorImpl());
      auto it = state_.find(key);
      if (it == state_.end()) {
        auto st = std::make_unique<RuleState>();
        for (const auto& f : fields_) st->fields[f] = torch::zeros_like(p, torch::MemoryFormat::Preserve);
        it = state_.emplace(key, std::move(st)).first;
      }
      auto& st = static_cast<RuleState&>(*it->second);
      ++st.step;
      rule_(p, weight_decay_ ? p.grad().add(p, weight_decay_) : p.grad(), lr, st);
    }
  }
  return loss;
}

std::unique_ptr<torch::optim::OptimizerParamState> RuleState::clone() const {
  auto c = std::make_unique<RuleState>();
  c->step = step;
  for (const auto& [k, v] : fields) c->fields[k] = v.clone();
  return c;
}

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
  register_optimizer(
      "lbfgs", {"L-BFGS: max_iter quasi-Newton iterations on each step's batch (full-batch use: batch_size >= rows)",
                {}, [] { return std::make_shared<LbfgsOptions>(); }},
      [](const OptionsBase& o, std::vector<torch::Tensor> p, double lr) {
        const auto& a = dynamic_cast<const LbfgsOptions&>(o);
        auto opts = torch::optim::LBFGSOptions(lr)
                        .max_iter(a.max_iter)
                        .tolerance_grad(a.tolerance_grad)
                        .tolerance_change(a.tolerance_change)
                        .history_size(a.history_size);
        if (a.max_eval) opts.max_eval(*a.max_eval);
        if (a.line_search_fn) opts.line_search_fn(*a.line_search_fn);
        return std::unique_ptr<torch::optim::Optimizer>(new torch::optim::LBFGS(std::move(p), opts));
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
  register_optimizer("adagrad", {"Adagrad", {}, [] { return std::make_shared<AdagradOptions>(); }},
                     [](const OptionsBase& o, std::vector<torch::Tensor> p, double lr) {
                       const auto& a = dynamic_cast<const AdagradOptions&>(o);
                       auto opts = torch::optim::AdagradOptions(lr)
                                       .lr_decay(a.lr_decay)
                                       .weight_decay(a.weight_decay)
                                       .initial_accumulator_value(a.initial_accumulator_value)
                                       .eps(a.eps);
                       return std::unique_ptr<torch::optim::Optimizer>(
                           new torch::optim::Adagrad(std::move(p), opts));
                     });
  register_optimizer(
      "adamax", {"Adamax (Adam with the infinity norm)", {}, [] { return std::make_shared<AdamaxOptions>(); }},
      [](const OptionsBase& o, std::vector<torch::Tensor> p, double lr) {
        const auto a = dynamic_cast<const AdamaxOptions&>(o);
        return rule_optimizer(std::move(p), lr, a.weight_decay, {"exp_avg", "exp_inf"},
                              [a](torch::Tensor& w, const torch::Tensor& g, double lr, RuleState& s) {
                                auto& m = s.fields["exp_avg"];
                                auto& u = s.fields["exp_inf"];
                                m.mul_(a.betas[0]).add_(g, 1 - a.betas[0]);
                                u.copy_(torch::maximum(u.mul(a.betas[1]), g.abs().add_(a.eps)));
                                const double clr = lr / (1 - std::pow(a.betas[0], static_cast<double>(s.step)));
                                w.addcdiv_(m, u, -clr);
                              });
      });
  register_optimizer(
      "nadam", {"NAdam (Adam with Nesterov momentum)", {}, [] {
                  auto o = std::make_shared<AdamaxOptions>();
                  o->nadam = true;
                  return o;
                }},
      [](const OptionsBase& o, std::vector<torch::Tensor> p, double lr) {
        const auto a = dynamic_cast<const AdamaxOptions&>(o);
        return rule_optimizer(
            std::move(p), lr, a.weight_decay, {"exp_avg", "exp_avg_sq", "mu_product"},
            [a](torch::Tensor& w, const torch::Tensor& g, double lr, RuleState& s) {
              auto& m = s.fields["exp_avg"];
              auto& v = s.fields["exp_avg_sq"];
              auto& mu_product_t = s.fields["mu_product"];  // one value, kept per element for the codec
              const double t = static_cast<double>(s.step);
              const double b1 = a.betas[0], b2 = a.betas[1];
              const double mu = b1 * (1 - 0.5 * std::pow(0.96, t * a.momentum_decay));
              const double mu_next = b1 * (1 - 0.5 * std::pow(0.96, (t + 1) * a.momentum_decay));
              if (s.step == 1) mu_product_t.fill_(1.0);
              mu_product_t.mul_(mu);
              const double mu_product = mu_product_t.flatten()[0].item<double>();
              m.mul_(b1).add_(g, 1 - b1);
              v.mul_(b2).addcmul_(g, g, 1 - b2);
              torch::Tensor denom = v.div(1 - std::pow(b2, t)).sqrt_().add_(a.eps);
              w.addcdiv_(g, denom, -lr * (1 - mu) / (1 - mu_product));
              w.addcdiv_(m, denom, -lr * mu_next / (1 - mu_product * mu_next));
            });
      });
  register_optimizer(
      "radam", {"RAdam (Adam with a rectified warm-up)", {}, [] { return std::make_shared<AdamaxOptions>(); }},
      [](const OptionsBase& o, std::vector<torch::Tensor> p, double lr) {
        const auto a = dynamic_cast<const AdamaxOptions&>(o);
        return rule_optimizer(std::move(p), lr, a.weight_decay, {"exp_avg", "exp_avg_sq"},
                              [a](torch::Tensor& w, const torch::Tensor& g, double lr, RuleState& s) {
                                auto& m = s.fields["exp_avg"];
                                auto& v = s.fields["exp_avg_sq"];
                                const double t = static_cast<double>(s.step);
                                const double b1 = a.betas[0], b2 = a.betas[1];
                                m.mul_(b1).add_(g, 1 - b1);
                                v.mul_(b2).addcmul_(g, g, 1 - b2);
                                const double bc1 = 1 - std::pow(b1, t), bc2 = 1 - std::pow(b2, t);
                                const double rho_inf = 2 / (1 - b2) - 1;
                                const double rho_t = rho_inf - 2 * t * std::pow(b2, t) / bc2;
                                if (rho_t > 5) {
                                  const double rect = std::sqrt((rho_t - 4) * (rho_t - 2) * rho_inf /
                                                                ((rho_inf - 4) * (rho_inf - 2) * rho_t));
                                  torch::Tensor adaptive = v.sqrt().add_(a.eps);
                                  w.addcdiv_(m, adaptive, -lr * rect * std::sqrt(bc2) / bc1);
                                } else {
                                  w.add_(m, -lr / bc1);
                                }
                              });
      });
  register_optimizer(
      "adadelta", {"Adadelta", {}, [] { return std::make_shared<AdadeltaOptions>(); }},
      [](const OptionsBase& o, std::vector<torch::Tensor> p, double lr) {
        const auto a = dynamic_cast<const AdadeltaOptions&>(o);
        return rule_optimizer(std::move(p), lr, a.weight_decay, {"square_avg", "acc_delta"},
                              [a](torch::Tensor& w, const torch::Tensor& g, double lr, RuleState& s) {
                                auto& sq = s.fields["square_avg"];
                                auto& acc = s.fields["acc_delta"];
                                sq.mul_(a.rho).addcmul_(g, g, 1 - a.rho);
                                torch::Tensor delta = acc.add(a.eps).sqrt_().div_(sq.add(a.eps).sqrt_()).mul_(g);
                                acc.mul_(a.rho).addcmul_(delta, delta, 1 - a.rho);
                                w.add_(delta, -lr);
                              });
      });
}

}  // namespace kiln
