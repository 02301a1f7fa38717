#include "automl/search_space.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "config/schema.h"
#include "config/yaml_io.h"
#include "util/error.h"
#include "util/strings.h"

namespace kiln {

namespace {

bool is_section(const std::string& head) {
  return head == "trainer" || head == "combiner" || head == "preprocessing" || head == "defaults";
}

YAML::Node find_feature(const YAML::Node& config, const std::string& name) {
  for (const char* list : {"input_features", "output_features"}) {
    YAML::Node l = config[list];
    if (!l || !l.IsSequence()) continue;
    for (auto f : l)
      if (f.IsMap() && f["name"] && f["name"].Scalar() == name) return f;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

std::vector<std::string> option_keys(const Registry<ComponentSchema>& r, const std::string& key) {
  std::vector<std::string> out;
  const ComponentSchema* s = r.find(key);
  if (!s) return out;
  DocVisitor dv;
  s->make_options()->describe(dv);
  for (const auto& it : dv.items) out.push_back(it.key);
  out.push_back("type");
  return out;
}

std::string type_of(const YAML::Node& n, const std::string& def) {
  if (n && n.IsScalar()) return n.Scalar();
  if (n && n.IsMap() && n["type"] && n["type"].IsScalar()) return n["type"].Scalar();
  return def;
}

}  // namespace

void set_config_path(YAML::Node& config, const std::string& path, const YAML::Node& value) {
  std::vector<std::string> parts = split(path, '.');
  if (path == ".") {  // whole-config alternatives: merge the value's keys at the top level
    if (!value.IsMap()) throw ConfigError("hyperopt.parameters.'.': expected mapping values");
    for (const auto& kv : value) {
      if (!kv.first.IsScalar())
        throw ConfigError("hyperopt.parameters.'.': expected text keys, got " + scalar_text(kv.first));
      config[kv.first.Scalar()] = YAML::Clone(kv.second);
    }
    return;
  }
  if (parts.size() < 2)
    throw ConfigError("hyperopt.parameters." + path +
                      ": expected a dotted path like trainer.learning_rate or <feature>.encoder.type");
  // YAML::Node's operator= copies into the node it refers to; reset() rebinds the handle.
  YAML::Node node;
  if (is_section(parts[0])) {
    if (!config[parts[0]] || !config[parts[0]].IsMap()) config[parts[0]] = YAML::Node(YAML::NodeType::Map);
    node.reset(config[parts[0]]);
  } else {
    node.reset(find_feature(config, parts[0]));
    if (!node.IsDefined()) {
      std::vector<std::string> names = {"trainer", "combiner", "preprocessing", "defaults"};
      for (const char* list : {"input_features", "output_features"})
        if (config[list] && config[list].IsSequence())
          for (auto f : config[list])
            if (f.IsMap() && f["name"]) names.push_back(f["name"].Scalar());
      throw ConfigError("hyperopt.parameters." + path + ": no config section or feature named '" +
                        parts[0] + "'" + suggest(parts[0], names));
    }
  }
  for (size_t i = 1; i + 1 < parts.size(); ++i) {
    YAML::Node child = node[parts[i]];
    if (child && child.IsScalar()) {  // `encoder: dense` → {type: dense}
      YAML::Node m(YAML::NodeType::Map);
      m["type"] = child.Scalar();
      node[parts[i]] = m;
    } else if (!child || !child.IsMap()) {
      node[parts[i]] = YAML::Node(YAML::NodeType::Map);
    }
    node.reset(node[parts[i]]);
  }
  node[parts.back()] = YAML::Clone(value);
}

std::string inapplicable_reason(const YAML::Node& config, const std::string& path) {
  std::vector<std::string> parts = split(path, '.');
  if (parts.size() < 2) return "";
  const std::string& key = parts.back();
  auto check = [&](const Registry<ComponentSchema>& r, const std::string& reg_key,
                   const std::string& what) -> std::string {
    std::vector<std::string> keys = option_keys(r, reg_key);
    if (keys.empty() || std::find(keys.begin(), keys.end(), key) != keys.end()) return "";
    return "'" + key + "' is not an option of " + what + suggest(key, keys);
  };
  if (parts.size() == 2 && parts[0] == "combiner") {
    std::string t = type_of(config["combiner"], "concat");
    return check(combiner_schemas(), t, "combiner " + t);
  }
  if (parts.size() == 3 && parts[0] == "trainer" && parts[1] == "optimizer") {
    std::string t = type_of(config["trainer"]["optimizer"], "adam");
    return check(optimizer_schemas(), t, "optimizer " + t);
  }
  if (parts.size() == 3 && (parts[1] == "encoder" || parts[1] == "decoder")) {
    YAML::Node f = find_feature(config, parts[0]);
    if (!f.IsDefined() || !f["type"]) return "";
    const std::string ftype = f["type"].Scalar();
    const FeatureSchema* fs = feature_schemas().find(ftype);
    if (!fs) return "";
    const bool enc = parts[1] == "encoder";
    std::string t = type_of(f[parts[1]], enc ? fs->default_encoder : fs->default_decoder);
    return check(enc ? encoder_schemas() : decoder_schemas(), ftype + "/" + t,
                 ftype + " " + parts[1] + " " + t);
  }
  return "";
}

std::string yaml_to_string(const YAML::Node& n) {
  YAML::Emitter e;
  e << YAML::Flow << n;
  return e.c_str();
}

}  // namespace kiln
