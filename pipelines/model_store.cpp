#include "util/json.h"  // first: configures RapidJSON
#include <rapidjson/document.h>

#include "pipelines/model_store.h"

#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "util/error.h"
#include "util/fs.h"
#include "version.h"

namespace kiln {

namespace {

const char* const kManifest = "manifest.json";

struct ModelFile {
  std::string name;  // relative to the model directory, '/'-separated
  uint64_t bytes = 0;
  std::string hash;
};

std::string file_hash(const std::string& text) { return "fnv64:" + hex64(hash_bytes(text.data(), text.size())); }

// The files a manifest covers: everything in the model directory but the checkpoints, the
// monitor store (both change after training), the manifest and temporary files.
std::vector<ModelFile> model_files(const std::string& model_dir) {
  namespace fs = std::filesystem;
  std::vector<ModelFile> out;
  for (auto it = fs::recursive_directory_iterator(model_dir); it != fs::recursive_directory_iterator(); ++it) {
    const std::string name = fs::relative(it->path(), model_dir).generic_string();
    if (it->is_directory()) {
      if (name == "checkpoints") it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file() || name == kManifest || name.rfind("monitor.sqlite", 0) == 0 ||
        name.find(".tmp.") != std::string::npos)
      continue;
    const std::string text = read_file(it->path().string());
    out.push_back({name, text.size(), file_hash(text)});
  }
  std::sort(out.begin(), out.end(), [](const ModelFile& a, const ModelFile& b) { return a.name < b.name; });
  return out;
}

// Verifies the model directory against its manifest; a directory without one is either a model
// from before manifests (its run's description.json has no model_files) or unfinished.
void verify_model(const std::string& model_path) {
  const std::string manifest = path_join(model_path, kManifest);
  if (!file_exists(manifest)) {
    const std::string desc = path_join(parent_dir(model_path), "description.json");
    bool legacy = false;
    if (file_exists(desc)) {
      rapidjson::Document d;
      const std::string text = read_file(desc);
      d.Parse(text.c_str(), text.size());
      legacy = !d.HasParseError() && d.IsObject() && !d.HasMember("model_files");
    }
    if (legacy) return;  // written before Kiln sealed models: nothing to verify against
    throw ModelError(model_path + ": unfinished model (no " + kManifest +
                     "): the run writing it has not finished or was interrupted; kiln train "
                     "--resume continues it");
  }
  const std::string text = read_file(manifest);
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("files") || !d["files"].IsObject())
    throw ModelError(manifest + ": corrupt manifest (expected a JSON object with \"files\")");
  for (const auto& m : d["files"].GetObject()) {
    const std::string name = m.name.GetString();
    const std::string path = path_join(model_path, name);
    if (!m.value.IsObject() || !m.value.HasMember("bytes") || !m.value["bytes"].IsUint64() ||
        !m.value.HasMember("hash") || !m.value["hash"].IsString())
      throw ModelError(manifest + ": corrupt manifest (entry '" + name + "')");
    if (!file_exists(path)) throw ModelError(path + ": missing from the model directory");
    const std::string content = read_file(path);
    const uint64_t bytes = m.value["bytes"].GetUint64();
    if (content.size() != bytes)
      throw ModelError(path + ": " + std::to_string(content.size()) + " bytes, the manifest says " +
                       std::to_string(bytes) + " (truncated or replaced since training)");
    if (file_hash(content) != m.value["hash"].GetString())
      throw ModelError(path + ": content differs from the manifest's checksum (altered since training)");
  }
}

}  // namespace

std::string seal_model(const std::string& model_dir) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.SetIndent(' ', 1);
  w.StartObject();
  for (const auto& f : model_files(model_dir)) {
    json_key(w, f.name);
    w.StartObject();
    w.Key("bytes"), w.Uint64(f.bytes);
    w.Key("hash"), json_string(w, f.hash);
    w.EndObject();
  }
  w.EndObject();
  const std::string files(sb.GetString(), sb.GetSize());
  write_file_atomic(path_join(model_dir, kManifest),
                    std::string("{\n \"kiln_version\": \"") + KILN_VERSION + "\",\n \"files\": " + files + "\n}\n");
  return files;
}

void write_model_files(const std::string& model_dir, const Config& c, const MetadataMap& m,
                       bool exclusive) {
  make_dirs(model_dir);
  std::error_code ec;
  std::filesystem::remove(path_join(model_dir, kManifest), ec);
  for (const auto& dir : {parent_dir(model_dir), model_dir, path_join(model_dir, "checkpoints")})
    remove_stale_temporaries(dir, exclusive);
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
  verify_model(model_path);
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
