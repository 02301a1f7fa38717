#pragma once
// The model directory, the contract between training and scoring:
//   <output_directory>/description.json, training_statistics.json, test_statistics.json
//   <output_directory>/model/{config.yaml, feature_metadata.json, weights.pt, checkpoints/}
#include <memory>
#include <string>

#include "config/config.h"
#include "features/metadata.h"
#include "model/ecd.h"

namespace kiln {

struct LoadedModel {
  Config config;
  MetadataMap metadata;
  std::shared_ptr<EcdModel> model;
};

// Throws ModelError naming the missing or corrupt file.
LoadedModel load_model(const std::string& model_path);
void write_model_files(const std::string& model_dir, const Config& c, const MetadataMap& m);

// Fails early (before any work) if `dir` cannot be created or written.
void check_writable(const std::string& dir);

}  // namespace kiln
