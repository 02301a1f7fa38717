#include "pipelines/model_store.h"

#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>

#include "util/error.h"
#include "util/fs.h"

namespace kiln {

void write_model_files(const std::string& model_dir, const Config& c, const MetadataMap& m) {
  make_dirs(model_dir);
  write_file_atomic(path_join(model_dir, "config.yaml"), config_to_yaml(c));
  write_file_atomic(path_join(model_dir, "feature_metadata.json"), metadata_to_json(m));
}

LoadedModel load_model(const std::string& model_path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(model_path, ec))
    throw ModelError(model_path + ": model directory not found (expected the 'model' folder " +
                     "that kiln train writes, e.g. results/model)");
  const std::string cfg_path = path_join(model_path, "config.yaml");
  const std::string meta_path = path_join(model_path, "feature_metadata.json");
  for (const auto& p : {cfg_path, meta_path, path_join(model_path, "weights.pt")})
    if (!file_exists(p)) throw ModelError(p + ": missing from the model directory");
  LoadedModel lm;
  try {
    lm.config = load_config(cfg_path);
  } catch (const ConfigError& e) {
    throw ModelError(std::string("corrupt model config: ") + e.what());
  }
  std::string meta_text;
  try {
    meta_text = read_file(meta_path);
  } catch (const DataError& e) {
    throw ModelError(e.what());
  }
  lm.metadata = metadata_from_json(meta_text, meta_path);
  for (const auto* list : {&lm.config.input_features, &lm.config.output_features})
    for (const auto& f : *list)
      if (!lm.metadata.count(f.name))
        throw ModelError(meta_path + ": corrupt feature metadata: no entry for feature '" +
                         f.name + "'");
  torch::manual_seed(lm.config.seed());
  try {
    lm.model = std::make_shared<EcdModel>(lm.config, lm.metadata);
  } catch (const c10::Error& e) {
    throw ModelError(model_path + ": cannot build the model from its files (corrupt metadata?)");
  }
  load_weights(*lm.model, path_join(model_path, "weights.pt"));
  lm.model->eval();
  return lm;
}

void check_writable(const std::string& dir) {
  namespace fs = std::filesystem;
  fs::path p = fs::absolute(dir);
  std::error_code ec;
  while (!fs::exists(p, ec) && p.has_parent_path() && p != p.parent_path()) p = p.parent_path();
  if (!fs::is_directory(p, ec))
    throw ModelError(dir + ": cannot create output directory: '" + p.string() +
                     "' is a file, not a directory");
  if (::access(p.c_str(), W_OK) != 0)
    throw ModelError(dir + ": output directory is not writable ('" + p.string() +
                     "' denies write access)");
}

}  // namespace kiln
