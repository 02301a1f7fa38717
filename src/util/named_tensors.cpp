#include "util/named_tensors.h"

#include "util/json.h"  // first: configures RapidJSON
#include <rapidjson/document.h>
#include <torch/torch.h>

#include <map>

#include "util/error.h"
#include "util/tensor_bytes.h"

namespace kiln {
namespace {

std::string shape_text(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

}  // namespace

void write_named_tensors(torch::serialize::OutputArchive& ar, const NamedTensors& tensors) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartArray();
  for (const auto& [name, t] : tensors) json_string(w, name);
  w.EndArray();
  ar.write("tensor_names", bytes_tensor(std::string(sb.GetString(), sb.GetSize())));
  for (size_t i = 0; i < tensors.size(); ++i) ar.write("t" + std::to_string(i), tensors[i].second);
}

bool has_named_tensors(torch::serialize::InputArchive& ar) {
  torch::Tensor names;
  return ar.try_read("tensor_names", names);
}

void read_named_tensors(torch::serialize::InputArchive& ar, const NamedTensors& targets, const std::string& file,
                        const std::string& written_for) {
  torch::Tensor names_bytes;
  if (!ar.try_read("tensor_names", names_bytes)) throw ModelError(file + ": no tensor name list");
  rapidjson::Document d;
  const std::string text = tensor_bytes(names_bytes);
  d.Parse(text.c_str(), text.size());
  if (d.HasParseError() || !d.IsArray()) throw ModelError(file + ": corrupt tensor name list");
  std::map<std::string, size_t> index;
  for (rapidjson::SizeType i = 0; i < d.Size(); ++i) {
    if (!d[i].IsString()) throw ModelError(file + ": corrupt tensor name list");
    index[d[i].GetString()] = i;
  }
  torch::NoGradGuard no_grad;
  for (const auto& [name, t] : targets) {
    auto it = index.find(name);
    if (it == index.end())
      throw ModelError(file + ": no tensor '" + name + "' (the model's config has it; the file was written for " +
                       written_for + ")");
    torch::Tensor saved;
    ar.read("t" + std::to_string(it->second), saved);
    if (!saved.sizes().equals(t.sizes()))
      throw ModelError(file + ": tensor '" + name + "' has shape " + shape_text(saved) +
                       ", the model's config gives " + shape_text(t));
    t.copy_(saved);
    index.erase(it);
  }
  if (!index.empty())
    throw ModelError(file + ": unexpected tensor '" + index.begin()->first +
                     "' (not part of the model's config; the file was written for " + written_for + ")");
}

}  // namespace kiln
