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

// Adafactor (Shazeer & Stern, 2018; as Hugging Face's transformers.optimization.Adafactor, whose
// keys Ludwig exposes): second moments factored into row and column averages for each weight
// matrix (the last two dimensions), updates clipped to RMS 1, and with relative_step a step size
// of its own, min(0.01, 1/sqrt(step)) (warmup_init: min(1e-6 step, 1/sqrt(step))), scaled by the
// parameter's RMS (at least 0.001) when scale_parameter; else trainer.learning_rate. No first
// moment (beta1 none) and no weight decay, Hugging Face's defaults. The factors live in a
// parameter-sized buffer (the row factor, then the column factor, in the parameter's place), so
// they save no memory here.
struct AdafactorOptions : Options<AdafactorOptions> {
  bool scale_parameter = true, relative_step = true, warmup_init = false;
  template <class V>
  void visit(V& v) {
    v("scale_parameter", scale_parameter, "scale the step size by each parameter's root mean square");
    v("relative_step", relative_step,
      "Adafactor's own step size, min(0.01, 1/sqrt(step)), instead of trainer.learning_rate");
    v("warmup_init", warmup_init, "relative_step: grow the step size as 1e-6 x step at first");
  }
};

// Muon (Jordan et al., 2024; Ludwig's implementation): SGD momentum (Nesterov by default), then
// each weight matrix's update (a parameter of 2 or more dimensions, flattened past the first)
// replaced by its orthogonal factor, by 5 Newton-Schulz iterations, and scaled by
// sqrt(max(rows, columns)); biases and other vectors take the momentum update as it is. The
// iterations run in float32 (Ludwig's in bfloat16), so results do not depend on the CPU's bfloat16.
struct MuonOptions : Options<MuonOptions> {
  double momentum = 0.95;
  bool nesterov = true;
  template <class V>
  void visit(V& v) {
    v("momentum", momentum, "momentum factor", in_range(0, 1));
    v("nesterov", nesterov, "Nesterov momentum before the orthogonalization");
  }
};

// Schedule-free AdamW (Defazio et al., 2024; the reference implementation's AdamWScheduleFree, which
// Ludwig uses): no learning-rate schedule; the gradient is taken at y, an interpolation of the
// averaged iterate x (evaluated and saved) and the base sequence z. Adam's second moment (bias
// corrected in the denominator), weight decay at y, a linear warm-up over warmup_steps, and the
// average weighting steps by the largest learning rate so far, squared.
struct ScheduleFreeOptions : Options<ScheduleFreeOptions> {
  std::vector<double> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0.0;
  int warmup_steps = 0;
  template <class V>
  void visit(V& v) {
    v("betas", betas, "interpolation (beta1) and second-moment (beta2) coefficients", in_range(0, 1, false, true));
    v("eps", eps, "added to the denominator", above(0));
    v("weight_decay", weight_decay, "decoupled weight decay, at y", at_least(0));
    v("warmup_steps", warmup_steps, "steps of linear learning-rate warm-up", at_least(0));
  }
  std::vector<std::string> problems() const override {
    if (betas.size() != 2) return {"betas: expected two numbers"};
    return {};
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

torch::Tensor rms(const torch::Tensor& t) { return t.norm() / std::sqrt(static_cast<double>(std::max<int64_t>(1, t.numel()))); }

// The orthogonal factor of a matrix by Muon's quintic Newton-Schulz iteration (5 steps), in
// float32 or the matrix's wider type.
torch::Tensor newton_schulz(const torch::Tensor& g) {
  const double a = 3.4445, b = -4.7750, c = 2.0315;
  torch::Tensor x = g.scalar_type() == torch::kFloat64 ? g.clone() : g.to(torch::kFloat32);
  x = x / (x.norm() + 1e-7);
  const bool tall = x.size(0) > x.size(1);  // iterate on the wide orientation: X X^T is the smaller
  if (tall) x = x.t();
  for (int i = 0; i < 5; ++i) {
    torch::Tensor m = x.mm(x.t());
    x = a * x + (b * m + c * m.mm(m)).mm(x);
  }
  if (tall) x = x.t();
  return x.to(g.scalar_type());
}

class ScheduleFreeAdamW : public RuleOptimizer, public EvalWeights {
 public:
  ScheduleFreeAdamW(std::vector<torch::Tensor> p, double lr, const ScheduleFreeOptions& o)
      : RuleOptimizer(std::move(p), lr, 0.0, {"z", "exp_avg_sq", "lr_max", "weight_sum"}, rule(o)), beta1_(o.betas[0]) {}
  // y = (1 - beta1) z + beta1 x, so x = y + (1 - 1/beta1) (z - y) and y = x + (1 - beta1) (z - x),
  // as the reference implementation's eval() and train().
  void use_eval_weights() override { interpolate(1 - 1 / beta1_); }
  void use_train_weights() override { interpolate(1 - beta1_); }

 private:
  void interpolate(double w) {
    torch::NoGradGuard no_grad;
    for (auto& group : param_groups_)
      for (auto& p : group.params()) {
        auto it = state_.find(c10::guts::to_string(p.unsafeGetTensorImpl()));
        if (it == state_.end()) continue;  // no step yet: x = y = z
        p.lerp_(static_cast<RuleState&>(*it->second).fields.at("z"), w);
      }
  }
  static Rule rule(const ScheduleFreeOptions& o) {
    return [o](torch::Tensor& y, const torch::Tensor& g, double lr, RuleState& s) {
      auto& z = s.fields["z"];
      auto& v = s.fields["exp_avg_sq"];
      // lr_max and weight_sum are one number each, kept per element for the checkpoint codec.
      auto& lr_max_t = s.fields["lr_max"];
      auto& weight_sum_t = s.fields["weight_sum"];
      if (s.step == 1) z.copy_(y);
      const double k = static_cast<double>(s.step - 1);
      const double b1 = o.betas[0], b2 = o.betas[1];
      const double sched = k < o.warmup_steps ? (k + 1) / o.warmup_steps : 1.0;
      const double lr_t = lr * sched;
      const double lr_max = std::max(lr_t, lr_max_t.flatten()[0].item<double>());
      const double weight = lr_max * lr_max;
      const double weight_sum = weight_sum_t.flatten()[0].item<double>() + weight;
      lr_max_t.fill_(lr_max);
      weight_sum_t.fill_(weight_sum);
      const double ckp1 = weight_sum > 0 ? weight / weight_sum : 0.0;
      v.mul_(b2).addcmul_(g, g, 1 - b2);
      torch::Tensor step = g / v.div(1 - std::pow(b2, k + 1)).sqrt_().add_(o.eps);
      if (o.weight_decay != 0) step.add_(y, o.weight_decay);
      y.lerp_(z, ckp1);
      y.add_(step, lr_t * (b1 * (1 - ckp1) - 1));
      z.sub_(step, lr_t);
    };
  }
  double beta1_;
};

}  // namespace

RuleOptimizer::RuleOptimizer(std::vector<torch::Tensor> params, double lr, double weight_decay,
                             std::vector<std::string> fields, Rule rule, std::vector<ParameterSlice> layout)
    : Optimizer({torch::optim::OptimizerParamGroup(std::move(params))}, std::make_unique<RuleGroupOptions>(lr)),
      weight_decay_(weight_decay),
      fields_(std::move(fields)),
      rule_(std::move(rule)),
      layout_(std::move(layout)) {}

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
      const torch::Tensor grad = weight_decay_ ? p.grad().add(p, weight_decay_) : p.grad();
      if (layout_.empty() || p.dim() != 1) {
        rule_(p, grad, lr, st);
        continue;
      }
      for (const auto& sl : layout_) {  // one parameter at a time, as views shaped as it
        int64_t n = 1;
        for (int64_t d : sl.shape) n *= d;
        auto view = [&](const torch::Tensor& t) { return t.slice(0, sl.offset, sl.offset + n).view(sl.shape); };
        RuleState one;
        one.step = st.step;
        for (const auto& [name, f] : st.fields) one.fields[name] = view(f);
        torch::Tensor pv = view(p);
        rule_(pv, view(grad), lr, one);
      }
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
      [](const OptionsBase& o, std::vector<torch::Tensor> p, double lr, const std::vector<ParameterSlice>&) {
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
      [](const OptionsBase& o, std::vector<torch::Tensor> p, double lr, const std::vector<ParameterSlice>&) {
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
      [](const OptionsBase& o, std::vector<torch::Tensor> p, double lr, const std::vector<ParameterSlice>&) {
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
      [](const OptionsBase& o, std::vector<torch::Tensor> p, double lr, const std::vector<ParameterSlice>&) {
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
                     [](const OptionsBase& o, std::vector<torch::Tensor> p, double lr, const std::vector<ParameterSlice>&) {
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
                     [](const OptionsBase& o, std::vector<torch::Tensor> p, double lr, const std::vector<ParameterSlice>&) {
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
      [](const OptionsBase& o, std::vector<torch::Tensor> p, double lr, const std::vector<ParameterSlice>&) {
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
      [](const OptionsBase& o, std::vector<torch::Tensor> p, double lr, const std::vector<ParameterSlice>&) {
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
      [](const OptionsBase& o, std::vector<torch::Tensor> p, double lr, const std::vector<ParameterSlice>&) {
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
      [](const OptionsBase& o, std::vector<torch::Tensor> p, double lr, const std::vector<ParameterSlice>&) {
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
  register_optimizer(
      "adafactor",
      {"Adafactor (factored second moments, its own step size with relative_step)", {},
       [] { return std::make_shared<AdafactorOptions>(); }},
      [](const OptionsBase& o, std::vector<torch::Tensor> p, double lr, const std::vector<ParameterSlice>& layout) {
        const auto a = dynamic_cast<const AdafactorOptions&>(o);
        return std::make_unique<RuleOptimizer>(
            std::move(p), lr, 0.0, std::vector<std::string>{"exp_avg_sq"},
            [a](torch::Tensor& w, const torch::Tensor& g, double lr, RuleState& s) {
              const double t = static_cast<double>(s.step);
              double step_size = lr;
              if (a.relative_step) step_size = std::min(a.warmup_init ? 1e-6 * t : 1e-2, 1 / std::sqrt(t));
              if (a.scale_parameter) step_size *= std::max(1e-3, rms(w).item<double>());
              const double beta2 = 1 - std::pow(t, -0.8);
              torch::Tensor sq = g * g + 1e-30;
              torch::Tensor update;
              const int64_t d = w.dim();
              torch::Tensor buf = s.fields["exp_avg_sq"].reshape({-1});  // a view of the parameter's place
              if (d >= 2 && w.size(d - 1) >= 2 && w.size(d - 2) >= 2) {
                // Factored: the row average (all dimensions but the last), then the column average
                // (all but the second last). With a dimension of 1 the factored rule equals the plain one.
                std::vector<int64_t> row_shape(w.sizes().begin(), w.sizes().end() - 1);
                std::vector<int64_t> col_shape(w.sizes().begin(), w.sizes().end() - 2);
                col_shape.push_back(w.size(d - 1));
                const int64_t nr = w.numel() / w.size(d - 1), nc = w.numel() / w.size(d - 2);
                torch::Tensor row = buf.slice(0, 0, nr).view(row_shape);
                torch::Tensor col = buf.slice(0, nr, nr + nc).view(col_shape);
                row.mul_(beta2).add_(sq.mean(-1), 1 - beta2);
                col.mul_(beta2).add_(sq.mean(-2), 1 - beta2);
                torch::Tensor r = row.div(row.mean(-1, true)).rsqrt_().unsqueeze(-1);
                update = r * col.rsqrt().unsqueeze(-2) * g;
              } else {
                torch::Tensor v = buf.view(w.sizes());
                v.mul_(beta2).add_(sq, 1 - beta2);
                update = v.rsqrt() * g;
              }
              update.div_(std::max(1.0, rms(update).item<double>()));  // clip_threshold 1
              w.sub_(update, step_size);
            },
            layout);
      });
  register_optimizer(
      "muon", {"Muon (momentum, then each weight matrix's update orthogonalized)", {},
               [] { return std::make_shared<MuonOptions>(); }},
      [](const OptionsBase& o, std::vector<torch::Tensor> p, double lr, const std::vector<ParameterSlice>& layout) {
        const auto a = dynamic_cast<const MuonOptions&>(o);
        return std::make_unique<RuleOptimizer>(
            std::move(p), lr, 0.0, std::vector<std::string>{"momentum_buffer"},
            [a](torch::Tensor& w, const torch::Tensor& g, double lr, RuleState& s) {
              auto& buf = s.fields["momentum_buffer"];
              buf.mul_(a.momentum).add_(g);
              torch::Tensor update = a.nesterov ? g + a.momentum * buf : buf.clone();
              if (w.dim() >= 2) {
                torch::Tensor m = newton_schulz(update.reshape({w.size(0), -1}));
                update = m.view(w.sizes()) * std::sqrt(static_cast<double>(std::max(m.size(0), m.size(1))));
              }
              w.sub_(update, lr);
            },
            layout);
      });
  register_optimizer(
      "schedule_free_adamw",
      {"schedule-free AdamW (no learning-rate schedule; evaluates its averaged weights)", {},
       [] { return std::make_shared<ScheduleFreeOptions>(); }},
      [](const OptionsBase& o, std::vector<torch::Tensor> p, double lr, const std::vector<ParameterSlice>&) {
        return std::make_unique<ScheduleFreeAdamW>(std::move(p), lr, dynamic_cast<const ScheduleFreeOptions&>(o));
      });
}

}  // namespace kiln
