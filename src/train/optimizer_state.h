#pragma once
// The optimizer's state in checkpoints, by parameter name (model format 2). The optimizer runs on
// one flat buffer of the trainable parameters (train/flat_parameters.h), so its moments are flat
// tensors in the order the model lays its parameters out; a checkpoint stores each parameter's
// slice of each moment under "<field>/<parameter name>" (e.g. "exp_avg/combiner/fc.fc0.weight"),
// and a resume puts every slice back at that parameter's place in its own layout. A missing,
// unexpected or reshaped slice is refused, naming it.
#include <torch/optim/optimizer.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <string>
#include <vector>

namespace kiln {

// One trainable parameter's place in the flat buffer.
struct ParameterSlice {
  std::string name;
  int64_t offset = 0;
  std::vector<int64_t> shape;
};

void write_optimizer_state(torch::optim::Optimizer& opt, const torch::Tensor& flat,
                           const std::vector<ParameterSlice>& slices, torch::serialize::OutputArchive& ar);
// Sets opt's state for `flat` (laid out as `slices`) from what write_optimizer_state wrote.
void read_optimizer_state(torch::optim::Optimizer& opt, const torch::Tensor& flat,
                          const std::vector<ParameterSlice>& slices, torch::serialize::InputArchive& ar,
                          const std::string& file);

}  // namespace kiln
