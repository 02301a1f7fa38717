#pragma once
// The model directory, the contract between training and scoring:
//   <output_directory>/description.json, training_statistics.json, test_statistics.json
//   <output_directory>/model/{config.yaml, feature_metadata.json, weights.pt, checkpoints/,
//                             manifest.json}   (docs/MODEL_FORMAT.md)
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
// the directory counts as unfinished until seal_model, and every temporary file a killed run left
// there. The caller holds the output directory's DirLock.
void write_model_files(const std::string& model_dir, const Config& c, const MetadataMap& m);
// The model directory's format (docs/MODEL_FORMAT.md), recorded in manifest.json. A model of a
// newer format is refused naming both versions; older ones are read as they were written.
constexpr int kModelFormatVersion = 2;
// A fresh identifier for a training run (16 hex digits), recorded in manifest.json and
// description.json so the files of a model directory can be tied to the run that wrote them.
std::string new_run_id();
// Writes model/manifest.json; returns its "files" object (also recorded in description.json).
std::string seal_model(const std::string& model_dir, const std::string& run_id);

// A training run's claim on its model directory: one that holds a trained model, or an unfinished
// run's checkpoint, is never replaced silently. Throws ModelError naming --resume / --overwrite
// unless the run resumes or overwrites. Called before any work, and again under the output
// directory's DirLock.
void check_model_dir_free(const std::string& model_dir, bool resume, bool overwrite);
// For --overwrite, under the DirLock: removes the model directory and the run files beside it
// (description.json, training_statistics.json, test_statistics.json) so nothing of the replaced
// model (its monitor history, its statistics) mixes with the new one.
void clear_previous_run(const std::string& output_directory, const std::string& model_dir);

// Fails early (before any work) if `dir` cannot be created or written.
void check_writable(const std::string& dir);

}  // namespace kiln
