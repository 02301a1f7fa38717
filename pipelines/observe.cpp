#include "util/json.h"  // first: configures RapidJSON
#include "pipelines/observe.h"

#include <torch/torch.h>

#include "features/feature.h"
#include "util/fs.h"

namespace kiln {
namespace {

// Summary of one output's predictions over the scored rows of a mask (empty: all of them).
MetricValues prediction_summary(const FeatureConfig& f, const FeatureMetadata& m, const torch::Tensor& logits,
                                const std::vector<uint8_t>& mask) {
  torch::Tensor l = logits.to(torch::kFloat64);
  if (!mask.empty()) {
    auto keep = torch::from_blob(const_cast<uint8_t*>(mask.data()), {l.size(0)}, torch::kUInt8).to(torch::kBool);
    l = l.index({keep});
  }
  if (l.size(0) == 0) return {};
  return output_kind(f.type).prediction_summary(f, m, l);
}

}  // namespace

std::unique_ptr<DriftReference> load_drift_reference(const std::string& model_path) {
  const std::string path = path_join(model_path, "drift_reference.json");
  if (!file_exists(path)) return nullptr;
  return std::make_unique<DriftReference>(drift_reference_from_json(read_file(path), path));
}

Observation observe(const LoadedModel& lm, const DriftReference* ref, const Table& t,
                    const std::vector<int64_t>& rows, const SliceSet& slices,
                    const std::map<std::string, torch::Tensor>& logits) {
  Observation o;
  DriftThresholds th;
  if (lm.config.slices) th = {lm.config.slices->drift.psi_warning, lm.config.slices->drift.psi_alert};
  // Each slice's members among the scored rows (row i of the logits is table row rows[i]).
  std::vector<std::vector<uint8_t>> members(slices.names.size());
  for (size_t s = 0; s < slices.names.size(); ++s) {
    const bool* m = slices.membership[static_cast<int64_t>(s)].data_ptr<bool>();
    members[s].reserve(rows.size());
    for (int64_t r : rows) members[s].push_back(m[r] ? 1 : 0);
  }
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.SetIndent(' ', 1);
  w.StartObject();
  if (ref) {
    o.overall = compare_profiles(ref->overall, profile_data(lm.config, t, rows, &ref->overall), th);
    write_drift_json(w, o.overall);
    for (const auto& f : o.overall.features) o.measurements.push_back({"", f.name, "psi", f.psi});
    o.measurements.push_back({"", "*", "drift_share", o.overall.drift_share});
    w.Key("slices");
    w.StartObject();
    for (size_t s = 0; s < slices.names.size(); ++s) {
      const std::string& name = slices.names[s];
      auto it = ref->slices.find(name);
      if (it == ref->slices.end()) continue;
      std::vector<int64_t> in;
      for (size_t i = 0; i < rows.size(); ++i)
        if (members[s][i]) in.push_back(rows[i]);
      DataDrift sd = compare_profiles(it->second, profile_data(lm.config, t, in, &it->second), th);
      json_key(w, name);
      w.StartObject();
      write_drift_json(w, sd);
      w.EndObject();
      for (const auto& f : sd.features) o.measurements.push_back({name, f.name, "psi", f.psi});
      o.measurements.push_back({name, "*", "drift_share", sd.drift_share});
      o.slice_drift_share[name] = sd.drift_share;
    }
    w.EndObject();
  }
  w.Key("predictions");
  w.StartObject();
  auto summarize = [&](const std::string& slice, const std::vector<uint8_t>& mask) {
    json_key(w, slice.empty() ? "(all)" : slice);
    w.StartObject();
    for (const auto& f : lm.config.output_features) {
      json_key(w, f.name);
      w.StartObject();
      for (const auto& [k, v] : prediction_summary(f, lm.metadata.at(f.name), logits.at(f.name), mask)) {
        json_key(w, k);
        json_double(w, v);
        o.measurements.push_back({slice, f.name, k, v});
      }
      w.EndObject();
    }
    w.EndObject();
  };
  summarize("", {});
  for (size_t s = 0; s < slices.names.size(); ++s) summarize(slices.names[s], members[s]);
  w.EndObject();
  w.EndObject();
  o.json = std::string(sb.GetString(), sb.GetSize()) + "\n";
  return o;
}

}  // namespace kiln
