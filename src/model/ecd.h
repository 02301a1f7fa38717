#pragma once
// The Encoder-Combiner-Decoder model, assembled from the config through the registries.
#include <torch/nn/module.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "features/metadata.h"
#include "model/components.h"
#include "model/batch.h"

namespace kiln {


class EcdModel : public torch::nn::Module {
 public:
  EcdModel(const Config& config, const MetadataMap& metadata);
  // Output feature name → logits.
  std::map<std::string, torch::Tensor> forward(const Batch& batch);
  int64_t num_parameters(bool trainable_only = false) const;  // trainable: not frozen
  // Every parameter and buffer under its stable name, the key of weights files and checkpoints
  // (model format 1): "input_features/<feature>/<path>", "combiner/<path>",
  // "output_features/<feature>/<path>", where <path> is the component's own (e.g. "fc.fc0.weight").
  // Names, not positions: reordering or adding features in a future version cannot mix weights up.
  std::vector<std::pair<std::string, torch::Tensor>> named_state();
  // Training from scratch: every pretrained encoder loads its pretrained weights.
  void init_pretrained();
  // The decoder of an output feature (nullptr for a name that is not one).
  DecoderBase* decoder(const std::string& output);

 private:
  std::vector<std::pair<std::string, std::shared_ptr<EncoderBase>>> encoders_;
  std::set<std::string> tied_;  // input features that use another's encoder (FeatureConfig::tied)
  std::vector<std::function<torch::Tensor(const torch::Tensor&)>> augmenters_;  // per encoder
  std::shared_ptr<CombinerBase> combiner_;
  std::vector<std::pair<std::string, std::shared_ptr<DecoderBase>>> decoders_;
  // Per output: how a combiner output that keeps its steps is reduced for its decoder (the
  // output's reduce_input), or empty when the decoder reads it as it is.
  std::vector<std::string> reduce_inputs_;
};

// The model's tensors in a torch archive, by stable name: "tensor_names" (a JSON list, as bytes)
// and "t<i>" for the i-th name. read_state loads by name and throws ModelError naming `file` and
// the tensor for one that is missing, unexpected or of another shape; an archive from before
// format 1 (torch's module layout, positional names) is read as such.
void write_state(EcdModel& model, torch::serialize::OutputArchive& ar);
void read_state(EcdModel& model, torch::serialize::InputArchive& ar, const std::string& file);
// Weights files. Loading a missing or corrupt file throws ModelError.
void save_weights(EcdModel& model, const std::string& path);
void load_weights(EcdModel& model, const std::string& path);

}  // namespace kiln
