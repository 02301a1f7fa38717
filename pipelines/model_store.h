#pragma once
// The model directory, the contract between training and scoring:
//   <output_directory>/description.json, training_statistics.json, test_statistics.json
//   <output_directory>/model/{config.yaml, feature_metadata.json, weights.pt, checkpoints/,
//                             manifest.json}
// manifest.json is written last, when the run that writes the model has finished: it lists every
// file of the model (not the checkpoints or the monitor store, which change after training) with
// its size and content hash, and load_model verifies them, so a truncated, altered or
// half-written model is refused with the file's name instead of predicting garbage.
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
// Writes config.yaml and feature_metadata.json; first removes a manifest a previous run left, so
// the directory counts as unfinished until seal_model, and, when the caller holds the output
// directory's DirLock (`exclusive`), every temporary file a killed run left there.
void write_model_files(const std::string& model_dir, const Config& c, const MetadataMap& m,
                       bool exclusive = false);
// Writes model/manifest.json; returns its "files" object (also recorded in description.json).
std::string seal_model(const std::string& model_dir);

// Fails early (before any work) if `dir` cannot be created or written.
void check_writable(const std::string& dir);

}  // namespace kiln
