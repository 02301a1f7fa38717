#include "util/json.h"  // first: configures RapidJSON
#include <rapidjson/document.h>

#include "pipelines/model_store.h"

#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <random>
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

// Whether a model directory without a manifest was written before Kiln sealed models (its run's
// description.json has no model_files); otherwise it is unfinished.
bool legacy_model(const std::string& model_path) {
  const std::string desc = path_join(parent_dir(model_path), "description.json");
  if (!file_exists(desc) || !file_exists(path_join(model_path, "weights.pt"))) return false;
  rapidjson::Document d;
  const std::string text = read_file(desc);
  d.Parse(text.c_str(), text.size());
  return !d.HasParseError() && d.IsObject() && !d.HasMember("model_files");
}

// Verifies the model directory against its manifest; a directory without one is either a model
// from before manifests or unfinished.
void verify_model(const std::string& model_path) {
  const std::string manifest = path_join(model_path, kManifest);
  if (!file_exists(manifest)) {
    if (legacy_model(model_path)) return;  // nothing to verify against
    throw ModelError(model_path + ": unfinished model (no " + kManifest +
                     "): the run writing it has not finished or was interrupted; kiln train "
                     "--resume continues it");
  }
  const std::string text = read_file(manifest);
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("files") || !d["files"].IsObject())
    throw ModelError(manifest + ": corrupt manifest (expected a JSON object with \"files\")");
  // Manifests before format 1 had no format_version (their files are read as format 0).
  if (d.HasMember("format_version")) {
    if (!d["format_version"].IsInt()) throw ModelError(manifest + ": corrupt manifest (format_version)");
    const int version = d["format_version"].GetInt();
    if (version > kModelFormatVersion) {
      const std::string by = d.HasMember("kiln_version") && d["kiln_version"].IsString()
                                 ? std::string(" (written by Kiln ") + d["kiln_version"].GetString() + ")" : "";
      throw ModelError(model_path + ": model format version " + std::to_string(version) + by +
                       " is newer than this Kiln " + KILN_VERSION + " reads (up to " +
                       std::to_string(kModelFormatVersion) + "); use a newer Kiln");
    }
  }
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

std::string new_run_id() {
  std::random_device rd;  // the kernel's random source
  return hex64((uint64_t(rd()) << 32) | rd());
}

std::string seal_model(const std::string& model_dir, const std::string& run_id) {
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
                    std::string("{\n \"format_version\": ") + std::to_string(kModelFormatVersion) +
                        ",\n \"kiln_version\": \"" + KILN_VERSION + "\",\n \"run_id\": \"" + run_id +
                        "\",\n \"files\": " + files + "\n}\n");
  return files;
}

void check_model_dir_free(const std::string& model_dir, bool resume, bool overwrite) {
  if (resume || overwrite) return;
  if (file_exists(path_join(model_dir, kManifest)) || legacy_model(model_dir))
    throw ModelError(model_dir + ": holds a trained model; --overwrite replaces it (or choose another "
                     "--output_directory)");
  if (file_exists(path_join(path_join(model_dir, "checkpoints"), "latest.pt")) ||
      file_exists(path_join(model_dir, "weights.pt")))
    throw ModelError(model_dir + ": holds an unfinished run; --resume continues it, --overwrite starts over");
}

void clear_previous_run(const std::string& output_directory, const std::string& model_dir) {
  std::error_code ec;
  std::filesystem::remove_all(model_dir, ec);
  if (ec) throw ModelError(model_dir + ": cannot remove the previous model: " + ec.message());
  for (const char* f : {"description.json", "training_statistics.json", "test_statistics.json"}) {
    std::filesystem::remove(path_join(output_directory, f), ec);
    if (ec) throw ModelError(path_join(output_directory, f) + ": cannot remove: " + ec.message());
  }
}

void write_model_files(const std::string& model_dir, const Config& c, const MetadataMap& m) {
  make_dirs(model_dir);
  std::error_code ec;
  std::filesystem::remove(path_join(model_dir, kManifest), ec);
  for (const auto& dir : {parent_dir(model_dir), model_dir, path_join(model_dir, "checkpoints")})
    remove_stale_temporaries(dir);
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
