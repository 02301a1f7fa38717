#include "train/loss_balancing.h"

#include <torch/optim/adam.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <stdexcept>

#include "config/config.h"

namespace kiln {
namespace {

// Per-task factors kept as a float64 tensor, so a checkpoint holds them exactly.
torch::Tensor doubles(const std::vector<double>& v) {
  return torch::tensor(v, torch::kFloat64);
}
std::vector<double> values(const torch::Tensor& t) {
  auto c = t.to(torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// The strategies whose loss is sum_i weight_i * factor_i * L_i, with factors changed after each
// step by a rule: famo, gradnorm, nash_mtl.
class WeightedSum : public LossBalancer {
 public:
  WeightedSum(std::vector<double> weights, std::vector<double> factors)
      : weights_(std::move(weights)), factors_(std::move(factors)) {}
  torch::Tensor combine(const std::vector<torch::Tensor>& losses) override {
    const auto f = effective();
    torch::Tensor total = torch::zeros({}, torch::kFloat32);
    for (size_t i = 0; i < losses.size(); ++i) total = total + weights_[i] * f[i] * losses[i];
    return total;
  }
  std::vector<double> factors() const override { return effective(); }
  void save(torch::serialize::OutputArchive& ar) const override {
    ar.write("factors", doubles(factors_));
    if (!memory_.empty()) ar.write("memory", doubles(memory_));
  }
  void load(torch::serialize::InputArchive& ar) override {
    torch::Tensor t;
    ar.read("factors", t);
    factors_ = values(t);
    if (ar.try_read("memory", t)) memory_ = values(t);
  }

 protected:
  // The factors applied to the losses (famo: the softmax of its logits).
  virtual std::vector<double> effective() const { return factors_; }
  std::vector<double> weights_;
  std::vector<double> factors_;
  std::vector<double> memory_;  // losses remembered by the rule (famo: previous; gradnorm: first)
};

class Famo : public WeightedSum {
 public:
  Famo(std::vector<double> weights, double lr)
      : WeightedSum(weights, std::vector<double>(weights.size(), 0.0)), lr_(lr) {}
  void after_step(const std::vector<double>& losses) override {
    if (!memory_.empty())
      for (size_t i = 0; i < losses.size(); ++i)
        if (memory_[i] > 0) factors_[i] += lr_ * (losses[i] / (memory_[i] + 1e-8) - 1.0);
    memory_ = losses;
  }

 protected:
  std::vector<double> effective() const override {
    const double top = *std::max_element(factors_.begin(), factors_.end());
    std::vector<double> e(factors_.size());
    double sum = 0;
    for (size_t i = 0; i < e.size(); ++i) sum += e[i] = std::exp(factors_[i] - top);
    for (auto& x : e) x /= sum;
    return e;
  }

 private:
  double lr_;
};

class GradNorm : public WeightedSum {
 public:
  GradNorm(std::vector<double> weights, double alpha)
      : WeightedSum(weights, std::vector<double>(weights.size(), 1.0)), alpha_(alpha) {}
  void after_step(const std::vector<double>& losses) override {
    if (memory_.empty()) {
      memory_ = losses;
      return;
    }
    const size_t n = losses.size();
    std::vector<double> ratio(n);
    double mean = 0;
    for (size_t i = 0; i < n; ++i) mean += ratio[i] = losses[i] / (memory_[i] + 1e-8);
    mean /= static_cast<double>(n);
    double total = 0;
    for (size_t i = 0; i < n; ++i) {
      factors_[i] = 0.9 * factors_[i] + 0.1 * std::pow(ratio[i] / (mean + 1e-8), alpha_);
      total += std::fabs(factors_[i]);
    }
    for (auto& f : factors_) f *= static_cast<double>(n) / (total + 1e-8);
  }

 private:
  double alpha_;
};

class NashMtl : public WeightedSum {
 public:
  explicit NashMtl(std::vector<double> weights)
      : WeightedSum(weights, std::vector<double>(weights.size(), 1.0 / static_cast<double>(weights.size()))) {}
  void after_step(const std::vector<double>& losses) override {
    double sum = 0;
    for (double l : losses) sum += 1.0 / (l + 1e-8);
    for (size_t i = 0; i < losses.size(); ++i)
      factors_[i] = 0.9 * factors_[i] + 0.1 * (1.0 / (losses[i] + 1e-8)) / sum;
  }
};

class LogTransform : public LossBalancer {
 public:
  explicit LogTransform(std::vector<double> weights) : weights_(std::move(weights)) {}
  torch::Tensor combine(const std::vector<torch::Tensor>& losses) override {
    torch::Tensor total = torch::zeros({}, torch::kFloat32);
    for (size_t i = 0; i < losses.size(); ++i) total = total + weights_[i] * torch::log1p(losses[i]);
    return total;
  }
  std::vector<double> factors() const override { return weights_; }
  void save(torch::serialize::OutputArchive&) const override {}
  void load(torch::serialize::InputArchive&) override {}

 private:
  std::vector<double> weights_;
};

class Uncertainty : public LossBalancer {
 public:
  Uncertainty(std::vector<double> weights, double lr)
      : weights_(std::move(weights)),
        log_vars_(torch::zeros({static_cast<int64_t>(weights_.size())}, torch::kFloat32).requires_grad_()),
        adam_(std::vector<torch::Tensor>{log_vars_}, torch::optim::AdamOptions(lr)) {}
  torch::Tensor combine(const std::vector<torch::Tensor>& losses) override {
    torch::Tensor s = log_vars_.clamp(-20.0, 20.0);
    torch::Tensor total = torch::zeros({}, torch::kFloat32);
    for (size_t i = 0; i < losses.size(); ++i) {
      const auto si = s[static_cast<int64_t>(i)];
      total = total + weights_[i] * (torch::exp(-si) * losses[i] + 0.5 * si);
    }
    return total;
  }
  void after_step(const std::vector<double>&) override {
    adam_.step();
    adam_.zero_grad();
  }
  // The precision exp(-s_i) each loss is multiplied by.
  std::vector<double> factors() const override {
    return values(torch::exp(-log_vars_.detach().clamp(-20.0, 20.0)));
  }
  void save(torch::serialize::OutputArchive& ar) const override {
    ar.write("log_vars", log_vars_.detach().clone());
    torch::serialize::OutputArchive opt;
    adam_.save(opt);
    ar.write("adam", opt);
  }
  void load(torch::serialize::InputArchive& ar) override {
    torch::Tensor t;
    ar.read("log_vars", t);
    {
      torch::NoGradGuard g;
      log_vars_.copy_(t);
    }
    torch::serialize::InputArchive opt;
    ar.read("adam", opt);
    adam_.load(opt);
  }

 private:
  std::vector<double> weights_;
  torch::Tensor log_vars_;
  torch::optim::Adam adam_;
};

class ParetoMtl : public LossBalancer {
 public:
  ParetoMtl(std::vector<double> weights, std::vector<double> preference, double tchebycheff)
      : weights_(std::move(weights)), preference_(std::move(preference)), t_(tchebycheff) {
    double sum = 0;
    for (double p : preference_) sum += p;
    for (auto& p : preference_) p /= sum;
  }
  torch::Tensor combine(const std::vector<torch::Tensor>& losses) override {
    std::vector<torch::Tensor> terms;
    for (size_t i = 0; i < losses.size(); ++i) terms.push_back(preference_[i] * weights_[i] * losses[i]);
    torch::Tensor all = torch::stack(terms);
    return (1.0 - t_) * all.sum() + t_ * all.max();
  }
  std::vector<double> factors() const override { return preference_; }
  void save(torch::serialize::OutputArchive&) const override {}
  void load(torch::serialize::InputArchive&) override {}

 private:
  std::vector<double> weights_;
  std::vector<double> preference_;
  double t_;
};

using Factory = std::function<std::unique_ptr<LossBalancer>(const TrainerConfig&, std::vector<double>)>;

const std::map<std::string, Factory>& factories() {
  static const std::map<std::string, Factory> f = {
      {"none", [](const TrainerConfig&, std::vector<double>) { return std::unique_ptr<LossBalancer>(); }},
      {"log_transform", [](const TrainerConfig&, std::vector<double> w) { return std::make_unique<LogTransform>(w); }},
      {"uncertainty", [](const TrainerConfig& tc, std::vector<double> w) {
         return std::make_unique<Uncertainty>(w, tc.learning_rate);
       }},
      {"famo", [](const TrainerConfig& tc, std::vector<double> w) {
         return std::make_unique<Famo>(w, tc.loss_balancing_lr);
       }},
      {"gradnorm", [](const TrainerConfig& tc, std::vector<double> w) {
         return std::make_unique<GradNorm>(w, tc.loss_balancing_alpha);
       }},
      {"nash_mtl", [](const TrainerConfig&, std::vector<double> w) { return std::make_unique<NashMtl>(w); }},
      {"pareto_mtl", [](const TrainerConfig& tc, std::vector<double> w) {
         std::vector<double> p = tc.loss_balancing_preference_vector.value_or(
             std::vector<double>(w.size(), 1.0 / static_cast<double>(w.size())));
         return std::make_unique<ParetoMtl>(w, p, tc.loss_balancing_tchebycheff_weight);
       }},
  };
  return f;
}

}  // namespace

std::unique_ptr<LossBalancer> make_loss_balancer(const TrainerConfig& tc, std::vector<double> weights) {
  auto it = factories().find(tc.loss_balancing);
  if (it == factories().end())  // the config's choices and this table are one list (unit-tested)
    throw std::logic_error("no loss balancer '" + tc.loss_balancing + "'");
  return it->second(tc, std::move(weights));
}

}  // namespace kiln
