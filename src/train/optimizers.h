#pragma once
#include <torch/optim/optimizer.h>

#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "config/schema.h"
#include "config/yaml_io.h"
#include "util/registry.h"

namespace kiln {

using OptimizerBuilder = std::function<std::unique_ptr<torch::optim::Optimizer>(
    const OptionsBase&, std::vector<torch::Tensor> params, double lr)>;
Registry<OptimizerBuilder>& optimizer_builders();
// Registers an optimizer's schema (its config options) and builder together under its name.
void register_optimizer(const std::string& name, ComponentSchema schema, OptimizerBuilder build);

// adam, adamw, sgd, rmsprop, adagrad (libtorch's), adamax, nadam, radam, adadelta (Kiln's, as
// update rules over a RuleState): schema and builder.
void register_optimizers();

// The state of Kiln's own optimizers: a step count and named tensors shaped like the parameter.
struct RuleState : torch::optim::OptimizerParamState {
  int64_t step = 0;
  std::map<std::string, torch::Tensor> fields;
  std::unique_ptr<torch::optim::OptimizerParamState> clone() const override;
};

// One of Kiln's own optimizers: an update rule over a RuleState per parameter (PyTorch's
// torch.optim definitions). The rule gets the gradient with the L2 weight decay already added.
class RuleOptimizer : public torch::optim::Optimizer {
 public:
  using Rule = std::function<void(torch::Tensor& p, const torch::Tensor& grad, double lr, RuleState& s)>;
  RuleOptimizer(std::vector<torch::Tensor> params, double lr, double weight_decay, std::vector<std::string> fields,
                Rule rule);
  torch::Tensor step(LossClosure closure = nullptr) override;
  const std::vector<std::string>& fields() const { return fields_; }

 private:
  double weight_decay_;
  std::vector<std::string> fields_;
  Rule rule_;
};
void set_learning_rate(torch::optim::Optimizer& opt, double lr);

}  // namespace kiln
