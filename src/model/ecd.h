#pragma once
// The Encoder-Combiner-Decoder model, assembled from the config through the registries.
#include <torch/nn/module.h>

#include <functional>
#include <map>
#include <memory>
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
  int64_t num_parameters() const;

 private:
  std::vector<std::pair<std::string, std::shared_ptr<EncoderBase>>> encoders_;
  std::vector<std::function<torch::Tensor(const torch::Tensor&)>> augmenters_;  // per encoder
  std::shared_ptr<CombinerBase> combiner_;
  std::vector<std::pair<std::string, std::shared_ptr<DecoderBase>>> decoders_;
};

// Weights files (torch archives). Loading a missing or corrupt file throws ModelError.
void save_weights(EcdModel& model, const std::string& path);
void load_weights(EcdModel& model, const std::string& path);

}  // namespace kiln
