#include "config/config.h"

#include <cmath>
#include <algorithm>
#include <set>

#include "config/ludwig_compat.h"
#include "slices/expression.h"
#include "util/log.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strings.h"

namespace kiln {
namespace {

TypedOptions make_typed(const Registry<ComponentSchema>& reg, const std::string& prefix,
                        const std::string& type, const std::string& what,
                        const std::string& context = "") {
  TypedOptions t;
  t.type = type;
  t.what = what;
  t.context = context;
  t.factory = [&reg, prefix](const std::string& name, std::vector<std::string>& candidates)
      -> std::shared_ptr<OptionsBase> {
    if (const auto* e = reg.find(prefix + name)) return e->make_options();
    if (prefix.empty()) {
      candidates = reg.names();
    } else {
      candidates = component_names_for(reg, prefix.substr(0, prefix.size() - 1));
    }
    return nullptr;
  };
  if (const auto* e = reg.find(prefix + type)) t.options = e->make_options();
  return t;
}

// Feature values win over `defaults:` values; maps merge key by key. The original nodes are kept,
// so messages still point at the line the user wrote.
YAML::Node merge(const YAML::Node& base, const YAML::Node& over) {
  if (!base || base.IsNull()) return over;
  if (!over || over.IsNull()) return base;
  if (!base.IsMap() || !over.IsMap()) return over;
  YAML::Node out(YAML::NodeType::Map);
  for (auto it = base.begin(); it != base.end(); ++it) {
    const std::string k = it->first.Scalar();
    const YAML::Node& co = over;
    YAML::Node ov = co[k];
    out[k] = ov ? merge(it->second, ov) : it->second;
  }
  for (auto it = over.begin(); it != over.end(); ++it) {
    const std::string k = it->first.Scalar();
    const YAML::Node& cb = base;
    if (!cb[k]) out[k] = it->second;
  }
  return out;
}

struct Parser {
  std::string file;
  std::vector<std::string> errors;

  void err(const YAML::Node& at, const std::string& path, const std::string& msg) {
    errors.push_back(yaml_where(file, at) + ": " + path + ": " + msg);
  }

  void parse_feature(const YAML::Node& node, const std::string& path, bool output,
                     const YAML::Node& defaults, FeatureConfig& f) {
    f.is_output = output;
    if (!node.IsMap()) {
      err(node, path, "expected a mapping with 'name' and 'type', got " + scalar_text(node));
      return;
    }
    const YAML::Node& cn = node;
    if (!cn["name"] || !cn["name"].IsScalar() || cn["name"].Scalar().empty()) {
      err(node, path, "missing 'name'");
      return;
    }
    f.name = cn["name"].Scalar();
    if (!cn["type"] || !cn["type"].IsScalar()) {
      err(node, path, "feature '" + f.name + "' is missing 'type'");
      return;
    }
    f.type = cn["type"].Scalar();
    const FeatureSchema* schema = feature_schemas().find(f.type);
    if (!schema) {
      const std::string m = not_in_kiln_message("feature type", f.type);
      err(cn["type"], path + ".type",
          !m.empty() ? m : "unknown feature type '" + f.type + "'" + suggest(f.type, feature_schemas().names()));
      return;
    }
    if (output && !schema->can_output) {
      const std::string m = not_in_kiln_message("output type", f.type);
      err(cn["type"], path + ".type", !m.empty() ? m : "feature type '" + f.type + "' cannot be an output");
      return;
    }
    if (!output && !schema->can_input) {
      err(cn["type"], path + ".type", "feature type '" + f.type + "' cannot be an input");
      return;
    }
    YAML::Node merged = node;
    if (defaults && defaults.IsMap()) {
      const YAML::Node& cd = defaults;
      if (YAML::Node d = cd[f.type]) merged = merge(d, node);
    }
    f.column = f.name;
    f.preprocessing = schema->make_preprocessing(output);
    f.loss.type = schema->default_loss;
    const std::string prefix = f.type + "/";
    if (output)
      f.decoder = make_typed(decoder_schemas(), prefix, schema->default_decoder,
                             "decoder", " for " + f.type + " output");
    else
      f.encoder = make_typed(encoder_schemas(), prefix, schema->default_encoder,
                             "encoder", " for " + f.type + " feature");

    YamlReader r(file, merged, path, &errors);
    f.visit(r, *schema);
    r.mark_known("preprocessing");
    if (!output && schema->input_augmentation) r.mark_known("augmentation");
    const YAML::Node& cm = merged;
    if (YAML::Node p = cm["preprocessing"]) {
      if (!p.IsMap()) {
        err(p, path + ".preprocessing", "expected a mapping, got " + scalar_text(p));
      } else {
        YamlReader pr(file, p, path + ".preprocessing", &errors);
        size_t before = errors.size();
        f.preprocessing->read(pr);
        pr.finish(f.type + " preprocessing");
        if (errors.size() == before) pr.report(p, path + ".preprocessing", f.preprocessing->problems());
      }
    }
    if (!output && f.encoder.options)
      if (const ComponentSchema* es = encoder_schemas().find(prefix + f.encoder.type); es && es->fixed_preprocessing) {
        YamlReader fr(file, es->fixed_preprocessing(*f.encoder.options), path + ".preprocessing", &errors);
        f.preprocessing->read(fr);
      }
    if (output) {
      r("dependencies", f.dependencies);
      if (!f.dependencies.empty())
        err(cm["dependencies"], path + ".dependencies",
            "output dependencies are not supported yet; remove the key");
      bool known_loss = false;
      for (const auto& l : schema->losses) known_loss = known_loss || l == f.loss.type;
      if (!known_loss) {
        YAML::Node at = cm["loss"] ? cm["loss"] : node;
        // A loss of another output type does not fit this one; a name no type has is unknown.
        bool elsewhere = false;
        for (const auto& [t, other] : feature_schemas().entries())
          for (const auto& l : other.losses) elsewhere = elsewhere || l == f.loss.type;
        const std::string m = not_in_kiln_message("loss", f.loss.type);
        err(at, path + ".loss.type",
            !m.empty() ? m
                       : (elsewhere ? "loss '" + f.loss.type + "' does not fit output type '" + f.type + "'"
                                    : "unknown loss '" + f.loss.type + "'") +
                             suggest(f.loss.type, schema->losses));
      }
    } else if (schema->input_augmentation) {
      read_augmentation(cm, path, f);
    }
    r.finish(std::string(output ? "an output" : "an input") + " feature");
  }

  // augmentation: a list of steps, or true for the default list (flip, small rotation,
  // brightness and contrast), or false.
  void read_augmentation(const YAML::Node& cm, const std::string& path, FeatureConfig& f) {
    YAML::Node a = cm["augmentation"];
    if (!a || a.IsNull()) return;
    if (a.IsScalar()) {
      const std::string v = a.Scalar();
      if (v == "true" || v == "True") {
        for (const char* t : {"random_horizontal_flip", "random_rotate", "random_brightness",
                              "random_contrast"}) {
          AugmentationOp op;
          op.type = t;
          op.min = 0.8, op.max = 1.2;
          f.augmentation.push_back(op);
        }
      } else if (v != "false" && v != "False") {
        err(a, path + ".augmentation", "expected true, false or a list of steps, got '" + v + "'");
      }
      return;
    }
    if (a.IsSequence()) {  // Ludwig's steps are mappings; a bare name gets a hint, not two errors
      bool bare = false;
      for (size_t i = 0; i < a.size(); ++i)
        if (a[i].IsScalar()) {
          err(a[i], path + ".augmentation[" + std::to_string(i) + "]",
              "expected a mapping such as {type: " + a[i].Scalar() + "}, got '" + a[i].Scalar() + "'");
          bare = true;
        }
      if (bare) return;
    }
    YamlReader ar(file, cm, path, &errors);
    ar("augmentation", f.augmentation);  // limits and rules: AugmentationOp (config.h)
  }

  void parse_features(const YAML::Node& root, const char* key, bool output,
                      const YAML::Node& defaults, std::vector<FeatureConfig>& out) {
    const YAML::Node& cr = root;
    YAML::Node list = cr[key];
    if (!list || list.IsNull()) {
      err(root, "config", std::string("missing '") + key + "' (a list of features)");
      return;
    }
    if (!list.IsSequence() || list.size() == 0) {
      err(list, key, "expected a non-empty list of features, got " +
                         (list.IsSequence() ? std::string("an empty list") : scalar_text(list)));
      return;
    }
    for (size_t i = 0; i < list.size(); ++i) {
      FeatureConfig f;
      size_t before = errors.size();
      parse_feature(list[i], std::string(key) + "[" + std::to_string(i) + "]", output, defaults,
                    f);
      if (errors.size() == before) out.push_back(std::move(f));
    }
  }

  void check_defaults(const YAML::Node& d) {
    if (!d || d.IsNull()) return;
    if (!d.IsMap()) return err(d, "defaults", "expected a mapping of feature types");
    for (auto it = d.begin(); it != d.end(); ++it) {
      const std::string t = it->first.Scalar();
      if (!feature_schemas().find(t)) {
        err(it->first, "defaults", "unknown feature type '" + t + "'" +
                                       suggest(t, feature_schemas().names()));
        continue;
      }
      if (!it->second.IsMap()) {
        err(it->second, "defaults." + t, "expected a mapping, got " + scalar_text(it->second));
        continue;
      }
      static const std::vector<std::string> allowed = {"preprocessing", "encoder", "decoder",
                                                       "loss"};
      for (auto jt = it->second.begin(); jt != it->second.end(); ++jt) {
        if (!jt->first.IsScalar()) {
          err(jt->first, "defaults." + t, "expected a key name, got " + scalar_text(jt->first));
          continue;
        }
        const std::string k = jt->first.Scalar();
        bool ok = false;
        for (const auto& a : allowed) ok = ok || a == k;
        if (!ok)
          err(jt->first, "defaults." + t, "unknown key '" + k + "'" + suggest(k, allowed));
      }
    }
  }

  void check_slices(const YAML::Node& root, const Config& c) {
    if (!c.slices) return;
    const YAML::Node& cr = root;
    const YAML::Node sn = cr["slices"];
    const YAML::Node defs = sn["define"];
    std::set<std::string> names;
    bool generated = false;
    for (size_t i = 0; i < c.slices->define.size(); ++i) {
      const auto& d = c.slices->define[i];
      const YAML::Node at = defs && defs.IsSequence() && i < defs.size() ? defs[i] : sn;
      const std::string path = "slices.define[" + std::to_string(i) + "]";
      int kinds = (d.where ? 1 : 0) + (d.by ? 1 : 0) + (d.tag_column ? 1 : 0);
      if (kinds != 1) {
        err(at, path, "expected exactly one of 'where', 'by' or 'tag_column'");
        continue;
      }
      if (d.where) {
        if (!d.name) err(at, path, "a 'where' slice needs a 'name'");
        try {
          (void)SliceExpression::parse(*d.where);
        } catch (const SliceSyntaxError& e) {
          // Point at the character: the scalar's column, past an opening quote, plus the offset.
          const YAML::Node w = at["where"];
          YAML::Mark m = w ? w.Mark() : at.Mark();
          m.column += static_cast<int>(e.position()) + (w && w.Tag() == "!" ? 1 : 0);
          errors.push_back(file + ":" + std::to_string(m.line + 1) + ":" +
                           std::to_string(m.column + 1) + ": " + path + ".where: " + e.what() +
                           " (character " + std::to_string(e.position() + 1) + " of \"" +
                           *d.where + "\")");
        }
      } else {
        generated = true;
      }
      if (d.name && !names.insert(*d.name).second)
        err(at, path + ".name", "slice name '" + *d.name + "' is used twice");
    }
    const YAML::Node gates = sn["gates"];
    for (size_t i = 0; i < c.slices->gates.size(); ++i) {
      const auto& g = c.slices->gates[i];
      const YAML::Node at = gates && gates.IsSequence() && i < gates.size() ? gates[i] : sn;
      const std::string path = "slices.gates[" + std::to_string(i) + "]";
      if (!g.min && !g.max && !g.max_drop)
        err(at, path, "a gate needs at least one of 'min', 'max' or 'max_drop'");
      if (g.slice && !names.count(*g.slice) && !generated) {
        std::vector<std::string> known(names.begin(), names.end());
        err(at, path + ".slice", "unknown slice '" + *g.slice + "'" + suggest(*g.slice, known));
      }
      std::string out_name = g.output.value_or(c.validation_field());
      const FeatureConfig* out = c.find_output(out_name);
      if (!out) {
        std::vector<std::string> outs;
        for (const auto& f : c.output_features) outs.push_back(f.name);
        err(at, path + ".output", "'" + out_name + "' is not an output feature" + suggest(out_name, outs));
        continue;
      }
      const auto& metrics = feature_schemas().find(out->type)->metrics;
      if (std::find(metrics.begin(), metrics.end(), g.metric) == metrics.end())
        err(at, path + ".metric", "metric '" + g.metric + "' is not reported for '" + out_name + "'" +
                                      suggest(g.metric, metrics));
    }
  }

  // The node a dotted path names in the YAML ("trainer.epochs"), or its deepest existing parent:
  // where a cross-field problem is reported (a default that is wrong in combination has no node
  // of its own; its section, or the file's start, stands in).
  static YAML::Node node_at(const YAML::Node& root, const std::string& path) {
    YAML::Node at = root;
    size_t start = 0;
    while (start <= path.size()) {
      const size_t dot = std::min(path.find('.', start), path.size());
      const std::string key = path.substr(start, dot - start);
      const YAML::Node& cur = at;
      if (!cur.IsMap() || !cur[key]) break;
      at.reset(cur[key]);  // rebinds; `at = ...` would overwrite the node `at` refers to
      start = dot + 1;
    }
    return at;
  }
  static bool one_of(const std::string& v, const std::vector<std::string>& choices) {
    return std::find(choices.begin(), choices.end(), v) != choices.end();
  }

  // Rules between fields of the whole config, and between a field and its default (limits and
  // choices of single fields are declared with them in visit()): every problem is reported, each
  // at its key.
  void cross_checks(const YAML::Node& root, Config& c) {
    check_slices(root, c);
    std::set<std::string> names;
    for (const char* list : {"input_features", "output_features"}) {
      const auto& features = std::string(list) == "input_features" ? c.input_features : c.output_features;
      for (size_t i = 0; i < features.size(); ++i)
        if (!names.insert(features[i].name).second) {
          const YAML::Node& cr = root;
          YAML::Node at = cr[list] && cr[list].IsSequence() && i < cr[list].size() ? cr[list][i]["name"] : cr[list];
          err(at ? at : root, "config", "feature name '" + features[i].name + "' is used twice");
        }
    }
    for (size_t i = 0; i < c.input_features.size(); ++i) {
      const auto& f = c.input_features[i];
      if (!f.tied) continue;
      const YAML::Node& cr = root;
      YAML::Node at = cr["input_features"][i]["tied"];
      const FeatureConfig* other = nullptr;
      for (const auto& g : c.input_features) other = g.name == *f.tied ? &g : other;
      if (!other)
        err(at, "input_features[" + std::to_string(i) + "].tied", "no input feature named '" + *f.tied + "'");
      else if (other == &f)
        err(at, "input_features[" + std::to_string(i) + "].tied", "a feature cannot be tied to itself");
      else if (other->type != f.type)
        err(at, "input_features[" + std::to_string(i) + "].tied", "'" + *f.tied + "' is a " + other->type +
                                                                       " feature; a " + f.type + " feature can only use the encoder of another " + f.type + " feature");
      else if (other->tied)
        err(at, "input_features[" + std::to_string(i) + "].tied", "'" + *f.tied + "' is itself tied to '" + *other->tied +
                                                                       "'; tie to '" + *other->tied + "' instead");
    }
    for (size_t i = 0; i < c.output_features.size(); ++i) {
      const auto& f = c.output_features[i];
      const FeatureSchema* s = feature_schemas().find(f.type);
      if (!s || !s->output_score_threshold || f.anomaly_threshold == "auto") continue;
      char* end = nullptr;
      const double v = std::strtod(f.anomaly_threshold.c_str(), &end);
      if (end == f.anomaly_threshold.c_str() || *end != '\0' || !(v >= 0)) {
        const YAML::Node& cr = root;
        YAML::Node at = cr["output_features"][i]["threshold"];
        err(at, "output_features[" + std::to_string(i) + "].threshold",
            "expected auto or a non-negative anomaly score, got '" + f.anomaly_threshold + "'");
      }
    }
    const auto& sp = c.preprocessing.split;
    if (sp.type != "fixed") {
      double sum = 0;
      bool neg = false;
      for (double p : sp.probabilities) sum += p, neg = neg || p < 0;
      if (sp.probabilities.size() != 3 || neg || std::fabs(sum - 1.0) > 1e-6)
        err(node_at(root, "preprocessing.split.probabilities"), "preprocessing.split.probabilities",
            "expected three non-negative fractions summing to 1 (train, validation, test)");
    }
    if ((sp.type == "stratify" || sp.type == "hash" || sp.type == "datetime") && !sp.column)
      err(node_at(root, "preprocessing.split"), "preprocessing.split.column", "split type '" + sp.type + "' needs a column");
    if (const auto& pv = c.trainer.loss_balancing_preference_vector) {
      double sum = 0;
      for (double p : *pv) sum += p;
      if (pv->size() != c.output_features.size() || !(sum > 0))
        err(node_at(root, "trainer.loss_balancing_preference_vector"), "trainer.loss_balancing_preference_vector",
            "expected one non-negative preference per output feature (" +
                std::to_string(c.output_features.size()) + "), not all zero; got " + std::to_string(pv->size()));
    }
    if (!c.output_features.empty() && errors.empty()) {
      std::string field = c.validation_field();
      const FeatureConfig* out = c.find_output(field);
      if (!out && field != "combined") {
        std::vector<std::string> outs = {"combined"};
        for (const auto& f : c.output_features) outs.push_back(f.name);
        err(node_at(root, "trainer.validation_field"), "trainer.validation_field",
            "'" + field + "' is not an output feature" + suggest(field, outs));
      } else if (c.trainer.validation_metric) {
        std::string m = *c.trainer.validation_metric;
        std::vector<std::string> metrics = {"loss"};
        if (out) metrics = feature_schemas().find(out->type)->metrics;
        if (!one_of(m, metrics))
          err(node_at(root, "trainer.validation_metric"), "trainer.validation_metric",
              "metric '" + m + "' is not reported for '" + field + "'" + suggest(m, metrics));
      }
    }
  }
};

}  // namespace

const std::vector<std::string>& augmentation_types() {
  static const std::vector<std::string> t = {"random_horizontal_flip", "random_vertical_flip",
                                             "random_rotate", "random_brightness",
                                             "random_contrast", "random_crop"};
  return t;
}

const std::vector<std::string>& loss_balancing_strategies() {
  static const std::vector<std::string> s = {"none", "log_transform", "uncertainty", "famo",
                                             "gradnorm", "nash_mtl", "pareto_mtl"};
  return s;
}

const FeatureConfig* Config::find_output(const std::string& name) const {
  for (const auto& f : output_features)
    if (f.name == name) return &f;
  return nullptr;
}

int Config::seed() const {
  if (random_seed) return *random_seed;
  if (trainer.random_seed) return *trainer.random_seed;
  return 42;
}

std::string Config::validation_field() const {
  if (trainer.validation_field) return *trainer.validation_field;
  if (output_features.size() == 1) return output_features[0].name;
  return "combined";
}

std::string Config::validation_metric() const {
  if (trainer.validation_metric) return *trainer.validation_metric;
  const FeatureConfig* out = find_output(validation_field());
  if (!out) return "loss";
  return feature_schemas().find(out->type)->default_metric;
}

YAML::Node load_config_yaml(const std::string& text, const std::string& file,
                            std::vector<std::string>* warnings) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    std::string where = file;
    if (e.mark.line >= 0)
      where += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    throw ConfigError(where + ": malformed YAML: " + e.msg);
  }
  if (!root || root.IsNull()) throw ConfigError(file + ": the config is empty");
  if (!root.IsMap())
    throw ConfigError(yaml_where(file, root) + ": config: expected a mapping with " +
                      "input_features and output_features, got " + scalar_text(root));
  // A model type Kiln does not have is the first thing said, before any of its keys.
  const YAML::Node& croot = root;
  if (YAML::Node mt = croot["model_type"]; mt && mt.IsScalar())
    if (std::string m = not_in_kiln_message("model type", mt.Scalar()); !m.empty())
      throw ConfigError(yaml_where(file, mt) + ": model_type: " + m);
  std::vector<std::string> w = upgrade_ludwig_config(root, file);
  if (warnings) *warnings = std::move(w);
  return root;
}

Config parse_config(const std::string& text, const std::string& file) {
  std::vector<std::string> warnings;
  YAML::Node root = load_config_yaml(text, file, &warnings);
  for (const auto& w : warnings) warn(w);
  Config c;
  c.warnings = std::move(warnings);
  c.file = file;
  c.combiner = make_typed(combiner_schemas(), "", "concat", "combiner");
  c.trainer.optimizer = make_typed(optimizer_schemas(), "", "adam", "optimizer");
  Parser p{file, {}};
  {  // `defaults` first: it merges into the features
    std::vector<std::string> ignored;  // read again (and reported) with the other keys below
    YamlReader dr(file, root, "", &ignored);
    dr("defaults", c.defaults);
  }
  p.check_defaults(c.defaults);
  YamlReader r(file, root, "", &p.errors);
  r.mark_known("input_features");
  r.mark_known("output_features");
  p.parse_features(root, "input_features", false, c.defaults, c.input_features);
  p.parse_features(root, "output_features", true, c.defaults, c.output_features);
  c.visit(r);
  if (c.hyperopt && !c.hyperopt.IsNull()) read_hyperopt(c.hyperopt, file, c.hyperopt_spec, p.errors);
  r.mark_known("backend");
  r.finish();
  if (p.errors.empty()) p.cross_checks(root, c);
  if (!p.errors.empty()) throw ConfigError(join(p.errors, "\n"));
  return c;
}

Config load_config(const std::string& path) {
  std::string text;
  try {
    text = read_file(path);
  } catch (const DataError& e) {
    throw ConfigError(e.what());
  }
  return parse_config(text, path);
}

std::string config_to_yaml(const Config& c) {
  YAML::Emitter e;
  YamlWriter w(e);
  e << YAML::BeginMap;
  auto features = [&](const char* key, const std::vector<FeatureConfig>& list) {
    e << YAML::Key << key << YAML::Value << YAML::BeginSeq;
    for (const auto& f : list) {
      e << YAML::BeginMap;
      const_cast<FeatureConfig&>(f).visit(w, *feature_schemas().find(f.type));
      e << YAML::Key << "preprocessing" << YAML::Value << YAML::BeginMap;
      f.preprocessing->write(w);
      e << YAML::EndMap;
      if (!f.augmentation.empty()) w("augmentation", f.augmentation);
      e << YAML::EndMap;
    }
    e << YAML::EndSeq;
  };
  features("input_features", c.input_features);
  features("output_features", c.output_features);
  Config resolved = c;
  resolved.random_seed = c.seed();  // the seed in force, whichever key gave it
  resolved.visit(w);
  e << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

}  // namespace kiln
