#include "config/schema.h"

namespace kiln {

Registry<FeatureSchema>& feature_schemas() {
  static Registry<FeatureSchema> r;
  return r;
}
Registry<ComponentSchema>& encoder_schemas() {
  static Registry<ComponentSchema> r;
  return r;
}
Registry<ComponentSchema>& decoder_schemas() {
  static Registry<ComponentSchema> r;
  return r;
}
Registry<ComponentSchema>& combiner_schemas() {
  static Registry<ComponentSchema> r;
  return r;
}
Registry<ComponentSchema>& optimizer_schemas() {
  static Registry<ComponentSchema> r;
  return r;
}

std::vector<std::string> component_names_for(const Registry<ComponentSchema>& r,
                                             const std::string& feature_type) {
  std::vector<std::string> out;
  const std::string prefix = feature_type + "/";
  for (const auto& [key, entry] : r.entries())
    if (key.rfind(prefix, 0) == 0) out.push_back(key.substr(prefix.size()));
  return out;
}

}  // namespace kiln
