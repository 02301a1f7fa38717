#pragma once
#include <torch/optim/optimizer.h>

#include <functional>
#include <memory>
#include <vector>

#include "config/yaml_io.h"
#include "util/registry.h"

namespace kiln {

using OptimizerBuilder = std::function<std::unique_ptr<torch::optim::Optimizer>(
    const OptionsBase&, std::vector<torch::Tensor> params, double lr)>;
Registry<OptimizerBuilder>& optimizer_builders();

void register_optimizers();  // adam, adamw, sgd, rmsprop: schema and builder
void set_learning_rate(torch::optim::Optimizer& opt, double lr);

}  // namespace kiln
