#include "train/evaluate.h"

#include <rapidjson/document.h>
#include <torch/torch.h>

#include "features/feature.h"
#include "util/json.h"

namespace kiln {

bool higher_is_better(const std::string& m) {
  return !(m == "loss" || m == "mean_squared_error" || m == "mean_absolute_error" ||
           m == "root_mean_squared_error");
}

Evaluation evaluate(EcdModel& model, const Config& c, const MetadataMap& meta,
                    const Batcher& batcher, const torch::Tensor& rows, int batch_size,
                    bool keep_logits, bool needs_targets) {
  Evaluation e;
  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  for (const auto& f : c.output_features)
    if (needs_targets) e.outputs[f.name] = feature_kind(f.type).metrics(f, meta.at(f.name));
  std::map<std::string, std::vector<torch::Tensor>> logit_parts;
  std::map<std::string, double> loss_sum;
  const int64_t n = rows.size(0);
  for (int64_t start = 0; start < n; start += batch_size) {
    auto idx = rows.slice(0, start, std::min<int64_t>(n, start + batch_size));
    Batch b = batcher.gather(idx);
    auto out = model.forward(b);
    for (const auto& f : c.output_features) {
      auto& logits = out.at(f.name);
      if (needs_targets) {
        const auto& target = b.at(f.name);
        auto l = feature_kind(f.type).loss(f, meta.at(f.name), logits, target);
        e.outputs[f.name]->update(logits, target, l.sum);
      }
      if (keep_logits) logit_parts[f.name].push_back(logits);
    }
  }
  e.rows = n;
  for (const auto& f : c.output_features) {
    if (keep_logits)
      e.logits[f.name] = logit_parts[f.name].empty() ? torch::empty({0})
                                                     : torch::cat(logit_parts[f.name], 0);
    if (needs_targets) e.combined_loss += f.loss.weight * e.outputs[f.name]->value("loss");
  }
  if (was_training) model.train();
  return e;
}

void TrainingStatistics::append(const std::string& split, const Evaluation& e) {
  auto& s = splits[split];
  for (const auto& [name, m] : e.outputs)
    for (const auto& [metric, v] : m->values()) s[name][metric].push_back(v);
  s["combined"]["loss"].push_back(e.combined_loss);
}

std::string TrainingStatistics::to_json() const {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.SetIndent(' ', 1);
  w.SetFormatOptions(rapidjson::kFormatSingleLineArray);
  w.StartObject();
  for (const auto& [split, fields] : splits) {
    json_key(w, split);
    w.StartObject();
    for (const auto& [field, metrics] : fields) {
      json_key(w, field);
      w.StartObject();
      for (const auto& [metric, values] : metrics) {
        json_key(w, metric);
        w.StartArray();
        for (double v : values) json_double(w, v);
        w.EndArray();
      }
      w.EndObject();
    }
    w.EndObject();
  }
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

TrainingStatistics TrainingStatistics::from_json(const std::string& text) {
  TrainingStatistics s;
  rapidjson::Document d;
  d.Parse<rapidjson::kParseFullPrecisionFlag>(text.c_str(), text.size());  // exact round trip
  if (d.HasParseError() || !d.IsObject()) return s;
  for (auto& sp : d.GetObject())
    for (auto& field : sp.value.GetObject())
      for (auto& metric : field.value.GetObject()) {
        auto& vec = s.splits[sp.name.GetString()][field.name.GetString()][metric.name.GetString()];
        for (auto& v : metric.value.GetArray())
          vec.push_back(v.IsNumber() ? v.GetDouble() : std::nan(""));
      }
  return s;
}

std::string evaluation_to_json(const Evaluation& e) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.SetIndent(' ', 1);
  w.SetFormatOptions(rapidjson::kFormatSingleLineArray);
  w.StartObject();
  for (const auto& [name, m] : e.outputs) {
    json_key(w, name);
    w.StartObject();
    for (const auto& [metric, v] : m->values()) {
      json_key(w, metric);
      json_double(w, v);
    }
    m->write_details(w);
    w.EndObject();
  }
  w.Key("combined");
  w.StartObject();
  w.Key("loss");
  json_double(w, e.combined_loss);
  w.EndObject();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

}  // namespace kiln
