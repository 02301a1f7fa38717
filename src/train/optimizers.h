#pragma once
#include <torch/optim/optimizer.h>

#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "config/schema.h"
#include "config/yaml_io.h"
#include "train/optimizer_state.h"
#include "util/registry.h"

namespace kiln {

// `layout`: the trainable parameters' places in the one flat tensor the trainer hands over
// (train/flat_parameters.h), for the optimizers whose rule works per weight matrix (adafactor,
// muon); empty when each tensor of `params` is one parameter.
using OptimizerBuilder = std::function<std::unique_ptr<torch::optim::Optimizer>(
    const OptionsBase&, std::vector<torch::Tensor> params, double lr, const std::vector<ParameterSlice>& layout)>;
Registry<OptimizerBuilder>& optimizer_builders();
// Registers an optimizer's schema (its config options) and builder together under its name.
void register_optimizer(const std::string& name, ComponentSchema schema, OptimizerBuilder build);

// adam, adamw, sgd, rmsprop, adagrad, lbfgs (libtorch's), adamax, nadam, radam, adadelta,
// adafactor, muon, schedule_free_adamw (Kiln's, as update rules over a RuleState): schema and builder.
void register_optimizers();

// The state of Kiln's own optimizers: a step count and named tensors shaped like the parameter.
struct RuleState : torch::optim::OptimizerParamState {
  int64_t step = 0;
  std::map<std::string, torch::Tensor> fields;
  std::unique_ptr<torch::optim::OptimizerParamState> clone() const override;
};

// One of Kiln's own optimizers: an update rule over a RuleState per parameter (PyTorch's
// torch.optim definitions). The rule gets the gradient with the L2 weight decay already added.
// An elementwise rule runs once over the whole flat tensor; a rule per weight matrix (`layout`
// non-empty) runs once per parameter, on views shaped as it (its state fields too: their storage
// stays the flat, parameter-sized tensors the checkpoint codec writes, so such a rule updates its
// fields in place).
class RuleOptimizer : public torch::optim::Optimizer {
 public:
  using Rule = std::function<void(torch::Tensor& p, const torch::Tensor& grad, double lr, RuleState& s)>;
  RuleOptimizer(std::vector<torch::Tensor> params, double lr, double weight_decay, std::vector<std::string> fields,
                Rule rule, std::vector<ParameterSlice> layout = {});
  torch::Tensor step(LossClosure closure = nullptr) override;
  const std::vector<std::string>& fields() const { return fields_; }

 private:
  double weight_decay_;
  std::vector<std::string> fields_;
  Rule rule_;
  std::vector<ParameterSlice> layout_;
};

// Optimizers whose weights for evaluation are not the ones the gradients are taken at
// (schedule_free_adamw evaluates its averaged iterate x, and trains at y): the trainer switches
// the parameters to the evaluation weights before it evaluates, saves or checkpoints them, and
// back before the next training step (and after loading a checkpoint, which holds x).
class EvalWeights {
 public:
  virtual ~EvalWeights() = default;
  virtual void use_eval_weights() = 0;
  virtual void use_train_weights() = 0;
};
void set_learning_rate(torch::optim::Optimizer& opt, double lr);

}  // namespace kiln
