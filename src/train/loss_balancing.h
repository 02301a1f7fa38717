#pragma once
// Multi-task loss balancing (trainer.loss_balancing, Ludwig's strategies and its semantics):
// how the output features' losses are combined into the one loss the optimizer minimizes.
//   none           sum of weight_i * L_i (loss.weight of each output)
//   log_transform  sum of weight_i * log(1 + L_i)
//   uncertainty    sum of weight_i * (exp(-s_i) * L_i + s_i / 2), s_i a learned log-variance
//                  (Kendall et al. 2018), trained by its own Adam at trainer.learning_rate
//   famo           sum of weight_i * softmax(z)_i * L_i; after each step z_i += lr * (L_i / L_i' - 1)
//                  (L_i' the previous step's loss, lr = loss_balancing_lr)
//   gradnorm       sum of weight_i * w_i * L_i; after each step w_i moves 10 % toward
//                  (r_i / mean r)^alpha, r_i = L_i / L_i(first step), then sum w = number of tasks
//   nash_mtl       sum of weight_i * w_i * L_i; after each step w moves 10 % toward (1/L_i) / sum 1/L
//   pareto_mtl     (1-t) sum p_i weight_i L_i + t max_i p_i weight_i L_i (p the normalized
//                  loss_balancing_preference_vector, t = loss_balancing_tchebycheff_weight)
// Kiln trains only s_i (uncertainty) by gradient; the other strategies' weights change by their
// after-step rule alone (in Ludwig the model's optimizer also moves them).
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

namespace kiln {

struct TrainerConfig;

class LossBalancer {
 public:
  virtual ~LossBalancer() = default;
  // losses: each output's mean loss (scalar tensors, before its loss.weight); weights: loss.weight.
  virtual torch::Tensor combine(const std::vector<torch::Tensor>& losses) = 0;
  // After the optimizer step: the losses combine() saw, as numbers.
  virtual void after_step(const std::vector<double>& /*losses*/) {}
  // The learned or adapted per-task factors (for the log and the statistics).
  virtual std::vector<double> factors() const = 0;
  // Everything needed to resume exactly, in a checkpoint.
  virtual void save(torch::serialize::OutputArchive& ar) const = 0;
  virtual void load(torch::serialize::InputArchive& ar) = 0;
};

// The strategy trainer.loss_balancing names, for outputs with these loss weights; none for
// 'none' (the trainer sums the weighted losses itself, as before balancing existed).
std::unique_ptr<LossBalancer> make_loss_balancer(const TrainerConfig& tc, std::vector<double> weights);

}  // namespace kiln
