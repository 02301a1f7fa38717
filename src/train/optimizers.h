#pragma once
#include <torch/optim/optimizer.h>

#include <functional>
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

void register_optimizers();  // adam, adamw, sgd, rmsprop: schema and builder
void set_learning_rate(torch::optim::Optimizer& opt, double lr);

}  // namespace kiln
