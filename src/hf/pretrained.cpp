#include "hf/pretrained.h"

#include <rapidjson/document.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "util/error.h"
#include "util/fs.h"

namespace kiln {
namespace fs = std::filesystem;
namespace {

bool is_dir(const std::string& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : "";
}

std::string hub_cache() {
  if (auto v = env("HF_HUB_CACHE"); !v.empty()) return v;
  if (auto v = env("HF_HOME"); !v.empty()) return path_join(v, "hub");
  if (auto v = env("XDG_CACHE_HOME"); !v.empty()) return path_join(v, "huggingface/hub");
  return path_join(env("HOME").empty() ? "/root" : env("HOME"), ".cache/huggingface/hub");
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

torch::ScalarType dtype_of(const std::string& d, const std::string& file, const std::string& name) {
  if (d == "F32") return torch::kFloat32;
  if (d == "F16") return torch::kFloat16;
  if (d == "BF16") return torch::kBFloat16;
  if (d == "F64") return torch::kFloat64;
  if (d == "I64") return torch::kInt64;
  if (d == "I32") return torch::kInt32;
  throw ModelError(file + ": tensor '" + name + "' has dtype " + d +
                   ", which Kiln does not read (expected F32, F16, BF16, F64, I64 or I32)");
}

}  // namespace

std::string find_pretrained_dir(const std::string& name_or_path, const std::string& who) {
  if (name_or_path.empty()) throw DataError(who + ": pretrained_model_name_or_path is empty");
  if (is_dir(name_or_path)) return name_or_path;
  const bool path = name_or_path[0] == '/' || name_or_path[0] == '.' || name_or_path[0] == '~' ||
                    std::count(name_or_path.begin(), name_or_path.end(), '/') > 1;
  if (path)
    throw DataError(who + ": pretrained model directory '" + name_or_path + "' does not exist (Kiln never downloads "
                          "models: it needs the model's config.json, model.safetensors and vocab.txt there)");
  std::string repo = name_or_path;
  for (size_t i = 0; (i = repo.find('/', i)) != std::string::npos; i += 2) repo.replace(i, 1, "--");
  const std::string model = path_join(hub_cache(), "models--" + repo);
  const std::string snapshots = path_join(model, "snapshots");
  if (is_dir(snapshots)) {
    const std::string ref = path_join(model, "refs/main");
    if (file_exists(ref)) {
      const std::string rev = path_join(snapshots, trim(read_file(ref)));
      if (is_dir(rev)) return rev;
    }
    std::vector<std::string> revs;
    for (const auto& e : fs::directory_iterator(snapshots))
      if (e.is_directory()) revs.push_back(e.path().string());
    if (revs.size() == 1) return revs[0];
  }
  throw DataError(who + ": pretrained model '" + name_or_path + "' not found: it is neither a directory nor in the Hugging Face cache (" +
                  snapshots + "); Kiln never downloads models: put its config.json, model.safetensors and vocab.txt in a "
                  "directory and give that path as pretrained_model_name_or_path");
}

std::map<std::string, torch::Tensor> read_safetensors(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ModelError(file + ": cannot open");
  in.seekg(0, std::ios::end);
  const uint64_t size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  unsigned char len[8];
  if (size < 8 || !in.read(reinterpret_cast<char*>(len), 8))
    throw ModelError(file + ": not a safetensors file (shorter than its 8-byte header length)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
  if (n > size - 8) throw ModelError(file + ": not a safetensors file (header length " + std::to_string(n) + " beyond the end)");
  std::string header(n, '\0');
  in.read(header.data(), static_cast<std::streamsize>(n));
  rapidjson::Document d;
  d.Parse(header.data(), header.size());
  if (d.HasParseError() || !d.IsObject()) throw ModelError(file + ": not a safetensors file (its header is not a JSON object)");
  const uint64_t base = 8 + n, data_size = size - base;
  std::map<std::string, torch::Tensor> out;
  for (auto it = d.MemberBegin(); it != d.MemberEnd(); ++it) {
    const std::string name = it->name.GetString();
    if (name == "__metadata__") continue;
    const auto& e = it->value;
    if (!e.IsObject() || !e.HasMember("dtype") || !e["dtype"].IsString() || !e.HasMember("shape") ||
        !e["shape"].IsArray() || !e.HasMember("data_offsets") || !e["data_offsets"].IsArray() ||
        e["data_offsets"].Size() != 2 || !e["data_offsets"][0].IsUint64() || !e["data_offsets"][1].IsUint64())
      throw ModelError(file + ": tensor '" + name + "' lacks dtype, shape or data_offsets [begin, end]");
    const auto type = dtype_of(e["dtype"].GetString(), file, name);
    std::vector<int64_t> shape;
    for (const auto& s : e["shape"].GetArray()) {
      if (!s.IsUint64()) throw ModelError(file + ": tensor '" + name + "' has a shape that is not a list of sizes");
      shape.push_back(static_cast<int64_t>(s.GetUint64()));
    }
    const uint64_t b = e["data_offsets"][0].GetUint64(), en = e["data_offsets"][1].GetUint64();
    auto t = torch::empty(shape, torch::TensorOptions().dtype(type));
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    if (en < b || en - b != bytes || en > data_size)
      throw ModelError(file + ": tensor '" + name + "' has data_offsets [" + std::to_string(b) + ", " + std::to_string(en) +
                       "] that do not hold its " + std::to_string(bytes) + " bytes within the file");
    in.seekg(static_cast<std::streamoff>(base + b));
    if (bytes && !in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(bytes)))
      throw ModelError(file + ": tensor '" + name + "' is cut short");
    if (t.is_floating_point() && type != torch::kFloat32) t = t.to(torch::kFloat32);
    out.emplace(name, t);
  }
  return out;
}

std::map<std::string, torch::Tensor> read_pretrained_weights(const std::string& dir) {
  const std::string single = path_join(dir, "model.safetensors");
  if (file_exists(single)) return read_safetensors(single);
  const std::string index = path_join(dir, "model.safetensors.index.json");
  if (file_exists(index)) {
    rapidjson::Document d;
    const std::string text = read_file(index);
    d.Parse(text.data(), text.size());
    if (d.HasParseError() || !d.IsObject() || !d.HasMember("weight_map") || !d["weight_map"].IsObject())
      throw ModelError(index + ": expected a JSON object with a weight_map");
    std::set<std::string> shards;
    for (auto it = d["weight_map"].MemberBegin(); it != d["weight_map"].MemberEnd(); ++it)
      if (it->value.IsString()) shards.insert(it->value.GetString());
    std::map<std::string, torch::Tensor> out;
    for (const auto& s : shards)
      for (auto& [k, v] : read_safetensors(path_join(dir, s))) out.emplace(k, v);
    return out;
  }
  if (file_exists(path_join(dir, "pytorch_model.bin")))
    throw ModelError(dir + ": has pytorch_model.bin (a Python pickle) but no model.safetensors; Kiln reads safetensors "
                           "only: convert it (e.g. safetensors.torch.save_file(torch.load(...), 'model.safetensors'))");
  throw ModelError(dir + ": no model.safetensors (nor model.safetensors.index.json) with the pretrained weights");
}

}  // namespace kiln
