#include "automl/study.h"

#include "util/json.h"  // first: configures RapidJSON
#include <algorithm>
#include <iostream>
#include <map>
#include <sstream>

#include "automl/samplers.h"
#include "config/config.h"
#include "config/schema.h"
#include "config/yaml_io.h"
#include "train/evaluate.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strings.h"

namespace kiln {

void json_yaml_value(JsonWriter& w, const YAML::Node& v) {
  if (v.IsScalar()) {
    double d;
    const std::string& s = v.Scalar();
    if (v.Tag() != "!" && parse_double(s, d)) {
      int64_t i;
      if (parse_int(s, i)) w.Int64(i);
      else json_double(w, d);
    } else if (v.Tag() != "!" && (s == "true" || s == "false")) {
      w.Bool(s == "true");
    } else {
      json_string(w, s);
    }
  } else {
    json_string(w, yaml_to_string(v));
  }
}

YAML::Node trial_config(const Study& s, const std::vector<double>& x, std::string* params_json,
                        std::vector<bool>* applied_out) {
  YAML::Node c = YAML::Clone(s.base);
  std::vector<size_t> order(s.h.parameters.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto is_type = [&](size_t i) {
    const std::string& p = s.h.parameters[i].path;
    return p == "." || p == "combiner" || (p.size() > 5 && p.compare(p.size() - 5, 5, ".type") == 0);
  };
  std::stable_partition(order.begin(), order.end(), is_type);
  std::map<size_t, YAML::Node> applied;
  for (size_t i : order) {
    const ParamSpace& p = s.h.parameters[i];
    if (!inapplicable_reason(c, p.path).empty()) continue;
    YAML::Node v = p.value(x[i]);
    set_config_path(c, p.path, v);
    applied[i] = v;
  }
  if (applied_out) {
    applied_out->assign(s.h.parameters.size(), false);
    for (const auto& [i, v] : applied) (*applied_out)[i] = true;
  }
  if (params_json) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> raw(sb);
    JsonWriter w(sb);
    w.SetFormatOptions(rapidjson::kFormatSingleLineArray);
    w.SetIndent(' ', 0);
    w.StartObject();
    for (size_t i = 0; i < s.h.parameters.size(); ++i) {
      json_key(w, s.h.parameters[i].path);
      auto it = applied.find(i);
      if (it == applied.end()) w.Null();  // does not apply to this architecture
      else json_yaml_value(w, it->second);
    }
    w.EndObject();
    std::string t(sb.GetString(), sb.GetSize());
    t.erase(std::remove(t.begin(), t.end(), '\n'), t.end());
    *params_json = t;
  }
  return c;
}

std::string emit_yaml(const YAML::Node& n) {
  YAML::Emitter e;
  e << n;
  return std::string(e.c_str()) + "\n";
}

namespace {

// Strips "file:line:col: " prefixes a generated config's parse errors carry.
std::string strip_location(const std::string& msg, const std::string& marker) {
  std::string out;
  std::istringstream in(msg);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(marker, 0) == 0) {
      size_t p = line.find(": ", marker.size());
      if (p != std::string::npos) line = line.substr(p + 2);
    }
    out += (out.empty() ? "" : "; ") + line;
  }
  return out;
}

}  // namespace

Study load_study(const HyperoptOptions& o) {
  Study s;
  s.file = o.config_path;
  std::string text = o.config_text;
  if (text.empty()) {
    try {
      text = read_file(o.config_path);
    } catch (const DataError& e) {
      throw ConfigError(e.what());
    }
  }
  Config parsed = parse_config(text, s.file);
  if (!parsed.hyperopt || parsed.hyperopt.IsNull()) throw ConfigError(s.file + ": the config has no hyperopt block");
  s.h = parsed.hyperopt_spec;  // checked by parse_config
  if (o.time_limit_s > 0) s.h.time_budget_s = o.time_limit_s;
  s.epochs = parsed.trainer.train_steps ? 0 : parsed.trainer.epochs;
  if (s.h.scheduler == "asha" && s.h.max_t == 0) s.h.max_t = s.epochs;

  // The metric the search optimizes is the one every trial's trainer watches.
  const std::string where = yaml_where(s.file, parsed.hyperopt);
  std::vector<std::string> outputs = {"combined"};
  const FeatureConfig* out = nullptr;
  for (const auto& f : parsed.output_features) {
    outputs.push_back(f.name);
    if (f.name == s.h.output_feature) out = &f;
  }
  if (s.h.output_feature != "combined" && !out)
    throw ConfigError(where + ": hyperopt.output_feature: '" + s.h.output_feature +
                      "' is not an output feature" + suggest(s.h.output_feature, outputs));
  std::vector<std::string> metrics = {"loss"};
  if (out)
    for (const auto& m : feature_schemas().find(out->type)->metrics)
      if (m != "loss") metrics.push_back(m);
  if (std::find(metrics.begin(), metrics.end(), s.h.metric) == metrics.end())
    throw ConfigError(where + ": hyperopt.metric: '" + s.h.metric + "' is not a metric of " +
                      (out ? out->type + " output '" + out->name + "'" : std::string("the combined output")) +
                      " (expected one of " + join(metrics, ", ") + ")" + suggest(s.h.metric, metrics));
  if (higher_is_better(s.h.metric) != s.h.maximize())
    std::cerr << "kiln: note: hyperopt.goal is " << s.h.goal << " but " << s.h.metric << " is better when "
              << (higher_is_better(s.h.metric) ? "higher" : "lower") << "\n";

  s.base = load_config_yaml(text, s.file, nullptr);  // Ludwig's older syntax upgraded, as parsed above
  s.base.remove("hyperopt");
  s.base["trainer"]["validation_field"] = s.h.output_feature;
  s.base["trainer"]["validation_metric"] = s.h.metric;

  // Every parameter must name a real place in the config, and apply to at least one of the
  // architectures the space can produce; sampled configs must parse.
  std::vector<std::string> reasons(s.h.parameters.size());
  std::vector<int> applied(s.h.parameters.size(), 0);
  auto sampler = make_sampler([&] {
    HyperoptSpec r = s.h;
    r.search_alg = "random";
    return r;
  }());
  const std::string marker = "<sampled config>";
  {  // each parameter alone, so a wrong key is reported at its own line
    std::vector<double> x = sampler->suggest(0, {});
    for (size_t i = 0; i < s.h.parameters.size(); ++i) {
      const ParamSpace& p = s.h.parameters[i];
      YAML::Node c = YAML::Clone(s.base);
      if (!inapplicable_reason(c, p.path).empty()) continue;
      try {
        set_config_path(c, p.path, p.value(x[i]));
        parse_config(emit_yaml(c), marker);
      } catch (const ConfigError& e) {
        std::string msg = strip_location(e.what(), marker);
        const std::string prefix = "hyperopt.parameters." + p.path + ": ";
        if (msg.rfind(prefix, 0) == 0) msg = msg.substr(prefix.size());
        throw ConfigError(p.where + ": " + prefix + msg);
      }
    }
  }
  for (int k = 0; k < 24; ++k) {
    std::vector<double> x = sampler->suggest(k, {});
    std::string params;
    std::vector<bool> used;
    YAML::Node tc;
    try {
      tc = trial_config(s, x, &params, &used);
    } catch (const ConfigError& e) {
      throw ConfigError(yaml_where(s.file, parsed.hyperopt) + ": " + e.what());
    }
    for (size_t i = 0; i < s.h.parameters.size(); ++i) {
      if (used[i]) ++applied[i];
      else if (reasons[i].empty()) reasons[i] = inapplicable_reason(tc, s.h.parameters[i].path);
    }
    try {
      parse_config(emit_yaml(tc), marker);
    } catch (const ConfigError& e) {
      throw ConfigError(yaml_where(s.file, parsed.hyperopt) + ": hyperopt.parameters: the sampled values " +
                        params + " make an invalid config: " + strip_location(e.what(), marker));
    }
  }
  for (size_t i = 0; i < s.h.parameters.size(); ++i)
    if (!applied[i])
      throw ConfigError(s.h.parameters[i].where + ": hyperopt.parameters." + s.h.parameters[i].path + ": " +
                        reasons[i]);
  return s;
}

bool better(const HyperoptSpec& h, double a, double b) {
  if (!std::isfinite(a)) return false;
  if (!std::isfinite(b)) return true;
  return h.maximize() ? a > b : a < b;
}

std::vector<const TrialRecord*> ranked(const HyperoptSpec& h, const std::vector<TrialRecord>& trials) {
  std::vector<const TrialRecord*> r;
  for (const auto& t : trials) r.push_back(&t);
  std::stable_sort(r.begin(), r.end(), [&](auto a, auto b) { return better(h, a->metric, b->metric); });
  return r;
}

size_t check_hyperopt(const std::string& config_path) {
  HyperoptOptions o;
  o.config_path = config_path;
  return load_study(o).h.parameters.size();
}

}  // namespace kiln
