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

const std::map<std::string, SpaceType>& space_names() {
  static const std::map<std::string, SpaceType> m = {
      {"choice", SpaceType::choice},         {"grid_search", SpaceType::grid_search},
      {"uniform", SpaceType::uniform},       {"quniform", SpaceType::quniform},
      {"loguniform", SpaceType::loguniform}, {"qloguniform", SpaceType::qloguniform},
      {"randn", SpaceType::randn},           {"qrandn", SpaceType::qrandn},
      {"randint", SpaceType::randint},       {"qrandint", SpaceType::qrandint},
      {"lograndint", SpaceType::lograndint}, {"qlograndint", SpaceType::qlograndint}};
  return m;
}

std::vector<std::string> split_dots(const std::string& s) {
  std::vector<std::string> out(1);
  for (char c : s) {
    if (c == '.') out.emplace_back();
    else out.back() += c;
  }
  return out;
}

std::vector<std::string> keys_of(const std::map<std::string, SpaceType>& m) {
  std::vector<std::string> k;
  for (const auto& [name, t] : m) k.push_back(name);
  return k;
}

// Reads the keys of one `hyperopt` mapping, reporting unknown ones with a suggestion.
class Block {
 public:
  Block(std::string file, YAML::Node node, std::string path, std::vector<std::string> known)
      : file_(std::move(file)), node_(node ? YAML::Node(node) : YAML::Node()), path_(std::move(path)), known_(std::move(known)) {
    if (node_ && !node_.IsNull() && !node_.IsMap()) fail(node_, path_, "expected a mapping");
    if (node_.IsMap())
      for (const auto& kv : node_) {
        if (!kv.first.IsScalar()) fail(kv.first, path_, "expected text keys, got " + scalar_text(kv.first));
        auto k = kv.first.Scalar();
        if (std::find(known_.begin(), known_.end(), k) == known_.end())
          fail(kv.first, path_ + "." + k, "unknown key" + suggest(k, known_));
      }
  }
  YAML::Node get(const std::string& k) const {
    if (!node_.IsMap()) return YAML::Node();
    const YAML::Node& n = node_;
    return n[k];
  }
  bool has(const std::string& k) const { return get(k) && !get(k).IsNull(); }
  std::string str(const std::string& k, const std::string& def,
                  const std::vector<std::string>& allowed = {}) const {
    YAML::Node n = get(k);
    if (!n || n.IsNull()) return def;
    if (!n.IsScalar()) fail(n, child(k), "expected a string, got " + scalar_text(n));
    std::string v = n.Scalar();
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), v) == allowed.end())
      fail(n, child(k), "expected one of " + join(allowed, ", ") + ", got '" + v + "'" + suggest(v, allowed));
    return v;
  }
  double num(const std::string& k, double def) const {
    YAML::Node n = get(k);
    if (!n || n.IsNull()) return def;
    double v;
    if (!n.IsScalar() || !parse_double(n.Scalar(), v) || !std::isfinite(v))
      fail(n, child(k), "expected a number, got " + scalar_text(n));
    return v;
  }
  // Integers up to 2^53 in magnitude (every one exact as a double, as the spaces compute with
  // them); larger ones are refused rather than converted (undefined past int64's range).
  int64_t integer(const std::string& k, int64_t def) const {
    double v = num(k, static_cast<double>(def));
    if (v != std::floor(v)) fail(get(k), child(k), "expected an integer, got " + scalar_text(get(k)));
    if (std::fabs(v) > 9007199254740992.0)
      fail(get(k), child(k), "expected an integer of at most 2^53 in magnitude, got " + scalar_text(get(k)));
    return static_cast<int64_t>(v);
  }
  [[noreturn]] void fail(const YAML::Node& at, const std::string& path, const std::string& msg) const {
    throw ConfigError(yaml_where(file_, at) + ": " + path + ": " + msg);
  }
  std::string child(const std::string& k) const { return path_ + "." + k; }
  const YAML::Node& node() const { return node_; }

 private:
  std::string file_;
  YAML::Node node_;
  std::string path_;
  std::vector<std::string> known_;
};

ParamSpace parse_space(const std::string& file, const std::string& key, const YAML::Node& n) {
  const std::string where = "hyperopt.parameters." + key;
  ParamSpace p;
  p.path = key;
  p.where = yaml_where(file, n);
  Block b(file, n, where, {"space", "categories", "values", "lower", "upper", "q", "base", "mean", "sd"});
  if (!n.IsMap()) b.fail(n, where, "expected a mapping with 'space'");
  if (!b.has("space")) b.fail(n, where, "missing 'space' (one of " + join(keys_of(space_names()), ", ") + ")");
  const std::string s = b.str("space", "");
  auto it = space_names().find(s);
  if (it == space_names().end())
    b.fail(b.get("space"), where + ".space",
           "unknown space type '" + s + "'" + suggest(s, keys_of(space_names())));
  p.type = it->second;
  auto forbid = [&](std::initializer_list<const char*> keys) {
    for (const char* k : keys)
      if (b.has(k)) b.fail(b.get(k), where + "." + k, std::string("not an option of space ") + s);
  };
  if (p.categorical()) {
    forbid({"lower", "upper", "q", "base", "mean", "sd"});
    const char* list_key = b.has("categories") ? "categories" : "values";
    YAML::Node list = b.get(list_key);
    if (!list || !list.IsSequence() || list.size() == 0)
      b.fail(list ? list : n, where, s + " needs a non-empty '" +
                                         std::string(p.type == SpaceType::choice ? "categories" : "values") + "' list");
    for (const auto& v : list) {
      if (key == "." && !v.IsMap())
        b.fail(v, where, "the '.' parameter's values must be mappings of config keys, got " + scalar_text(v));
      p.categories.push_back(YAML::Clone(v));
    }
    return p;
  }
  forbid({"categories", "values"});
  if (p.type == SpaceType::randn || p.type == SpaceType::qrandn) {
    forbid({"lower", "upper", "base"});
    p.mean = b.num("mean", 0);
    p.sd = b.num("sd", 1);
    if (!(p.sd > 0)) b.fail(b.get("sd"), where + ".sd", "expected a positive standard deviation");
  } else {
    forbid({"mean", "sd"});
    if (!b.has("lower") || !b.has("upper")) b.fail(n, where, s + " needs 'lower' and 'upper'");
    p.lower = b.num("lower", 0);
    p.upper = b.num("upper", 0);
    if (p.integer()) {
      p.lower = static_cast<double>(b.integer("lower", 0));
      p.upper = static_cast<double>(b.integer("upper", 0));
    }
    const bool exclusive = p.type == SpaceType::randint || p.type == SpaceType::lograndint;
    if (exclusive ? !(p.lower < p.upper) : !(p.lower <= p.upper) || (p.lower == p.upper && !p.integer()))
      b.fail(b.get("upper"), where, "bad bounds: lower " + format_double(p.lower) + " must be below upper " +
                                        format_double(p.upper) + (exclusive ? " (upper is excluded)" : ""));
    if (p.log_scale() && !(p.lower > 0))
      b.fail(b.get("lower"), where + ".lower", s + " needs lower > 0, got " + format_double(p.lower));
    if (b.has("base")) {
      if (!p.log_scale()) b.fail(b.get("base"), where + ".base", "only log spaces take a base");
      p.base = b.num("base", 10);
      if (!(p.base > 1)) b.fail(b.get("base"), where + ".base", "expected a base above 1");
    }
  }
  const bool quantized = p.type == SpaceType::quniform || p.type == SpaceType::qloguniform ||
                         p.type == SpaceType::qrandn || p.type == SpaceType::qrandint ||
                         p.type == SpaceType::qlograndint;
  if (quantized) {
    if (!b.has("q")) b.fail(n, where, s + " needs 'q' (the step)");
    p.q = b.num("q", 0);
    if (!(p.q > 0)) b.fail(b.get("q"), where + ".q", "expected a positive step");
  } else {
    forbid({"q"});
  }
  return p;
}

}  // namespace

bool ParamSpace::integer() const {
  return type == SpaceType::randint || type == SpaceType::qrandint ||
         type == SpaceType::lograndint || type == SpaceType::qlograndint;
}

bool ParamSpace::log_scale() const {
  return type == SpaceType::loguniform || type == SpaceType::qloguniform ||
         type == SpaceType::lograndint || type == SpaceType::qlograndint;
}

double ParamSpace::internal_low() const {
  if (categorical()) return 0;
  if (!bounded()) return mean - 4 * sd;
  return log_scale() ? std::log(lower) / std::log(base) : lower;
}

double ParamSpace::internal_high() const {
  if (categorical()) return static_cast<double>(categories.size());
  if (!bounded()) return mean + 4 * sd;
  double hi = upper;
  // Integer spaces: the continuous coordinate covers [lower, upper) (exclusive) or
  // [lower, upper + 1) (inclusive), so flooring gives each integer an equal share.
  if (type == SpaceType::randint) hi = upper;
  else if (type == SpaceType::qrandint) hi = upper + q;
  else if (type == SpaceType::lograndint) hi = upper;
  else if (type == SpaceType::qlograndint) hi = upper + q;
  return log_scale() ? std::log(hi) / std::log(base) : hi;
}

double ParamSpace::sample_internal(std::mt19937_64& rng) const {
  if (categorical())
    return static_cast<double>(std::uniform_int_distribution<size_t>(0, categories.size() - 1)(rng));
  if (!bounded()) return std::normal_distribution<double>(mean, sd)(rng);
  return std::uniform_real_distribution<double>(internal_low(), internal_high())(rng);
}

YAML::Node ParamSpace::value(double x) const {
  if (categorical()) {
    size_t i = static_cast<size_t>(std::clamp<double>(std::floor(x), 0, categories.size() - 1.0));
    return YAML::Clone(categories[i]);
  }
  double v = log_scale() ? std::pow(base, x) : x;
  if (q > 0 && !integer()) v = std::round(v / q) * q;
  if (integer()) {
    double lo = lower, hi = (type == SpaceType::randint || type == SpaceType::lograndint) ? upper - 1 : upper;
    if (q > 0) {
      v = std::floor((v - lower) / q) * q + lower;
      hi = lower + std::floor((hi - lower) / q) * q;
    } else {
      v = std::floor(v);
    }
    return YAML::Node(static_cast<int64_t>(std::clamp(v, lo, hi)));
  }
  if (bounded()) v = std::clamp(v, lower, upper);
  return YAML::Node(v);
}

std::string ParamSpace::type_name() const {
  for (const auto& [name, t] : space_names())
    if (t == type) return name;
  return "?";
}

int64_t HyperoptSpec::grid_size() const {
  int64_t g = 1;
  if (search_alg != "random") return 1;
  for (const auto& p : parameters)
    if (p.type == SpaceType::grid_search) g *= static_cast<int64_t>(p.categories.size());
  return g;
}

int64_t HyperoptSpec::total_trials() const {
  return num_samples < 0 ? -1 : num_samples * grid_size();
}

HyperoptSpec parse_hyperopt(const YAML::Node& node, const std::string& file) {
  HyperoptSpec h;
  if (!node || node.IsNull()) throw ConfigError(file + ": the config has no hyperopt block");
  Block b(file, node, "hyperopt",
          {"goal", "metric", "output_feature", "split", "parameters", "search_alg", "executor",
           "sampler", "rerank"});
  h.goal = b.str("goal", "minimize", {"minimize", "maximize"});
  h.metric = b.str("metric", "loss");
  h.output_feature = b.str("output_feature", "combined");
  h.split = b.str("split", "validation");
  if (h.split != "validation")
    b.fail(b.get("split"), "hyperopt.split",
           "only 'validation' is supported: the test split is held out from the search, and the "
           "training split would reward overfitting");
  YAML::Node params = b.get("parameters");
  if (!params || !params.IsMap() || params.size() == 0)
    b.fail(params ? params : node, "hyperopt.parameters", "expected a non-empty mapping of dotted config paths to spaces");
  for (const auto& kv : params) {
    if (!kv.first.IsScalar())
      b.fail(kv.first, "hyperopt.parameters", "expected dotted config paths as keys, got " + scalar_text(kv.first));
    std::string key = kv.first.Scalar();
    h.parameters.push_back(parse_space(file, key, kv.second));
  }

  // search_alg (Ludwig / Ray Tune) or the older `sampler` block.
  Block sa(file, b.get("search_alg"), "hyperopt.search_alg", {"type", "random_state", "seed", "n_startup_trials"});
  static const std::map<std::string, std::string> algs = {
      {"random", "random"}, {"variant_generator", "random"}, {"grid", "random"},
      {"tpe", "tpe"},       {"hyperopt", "tpe"},             {"optuna", "tpe"}};
  std::vector<std::string> alg_names;
  for (const auto& [k, v] : algs) alg_names.push_back(k);
  std::string alg = sa.str("type", "random", alg_names);
  Block smp(file, b.get("sampler"), "hyperopt.sampler", {"type", "num_samples"});
  if (b.has("sampler")) alg = smp.str("type", alg, alg_names);
  h.search_alg = algs.at(alg);
  h.random_state = sa.integer("random_state", sa.integer("seed", 42));
  h.n_startup_trials = static_cast<int>(sa.integer("n_startup_trials", 10));
  if (h.n_startup_trials < 1) sa.fail(sa.get("n_startup_trials"), "hyperopt.search_alg.n_startup_trials", "expected at least 1");

  Block ex(file, b.get("executor"), "hyperopt.executor",
           {"type", "num_samples", "time_budget_s", "max_concurrent_trials", "cpu_resources_per_trial",
            "gpu_resources_per_trial", "trial_time_limit_s", "scheduler", "kubernetes_namespace"});
  ex.str("type", "ray", {"ray", "local", "serial", "parallel"});
  h.num_samples = ex.integer("num_samples", smp.integer("num_samples", 10));
  if (h.num_samples == 0 || h.num_samples < -1)
    ex.fail(ex.has("num_samples") ? ex.get("num_samples") : smp.get("num_samples"), "hyperopt.executor.num_samples", "expected a positive count (or -1: until the time budget ends)");
  h.time_budget_s = ex.num("time_budget_s", 3600);
  if (!(h.time_budget_s > 0)) ex.fail(ex.get("time_budget_s"), "hyperopt.executor.time_budget_s", "expected a positive number of seconds");
  if (ex.has("max_concurrent_trials") && ex.get("max_concurrent_trials").Scalar() != "auto") {
    h.max_concurrent_trials = static_cast<int>(ex.integer("max_concurrent_trials", 0));
    if (h.max_concurrent_trials < 1)
      ex.fail(ex.get("max_concurrent_trials"), "hyperopt.executor.max_concurrent_trials", "expected at least 1 (or auto)");
  }
  h.cpu_resources_per_trial = ex.num("cpu_resources_per_trial", 1);
  if (!(h.cpu_resources_per_trial > 0))
    ex.fail(ex.get("cpu_resources_per_trial"), "hyperopt.executor.cpu_resources_per_trial", "expected a positive number");
  if (ex.num("gpu_resources_per_trial", 0) > 0)
    ex.fail(ex.get("gpu_resources_per_trial"), "hyperopt.executor.gpu_resources_per_trial", "this build trains on CPU only");
  h.trial_time_limit_s = ex.num("trial_time_limit_s", 0);
  if (h.trial_time_limit_s < 0) ex.fail(ex.get("trial_time_limit_s"), "hyperopt.executor.trial_time_limit_s", "expected seconds >= 0");

  Block sc(file, ex.get("scheduler"), "hyperopt.executor.scheduler",
           {"type", "time_attr", "max_t", "grace_period", "reduction_factor", "brackets", "metric", "mode"});
  std::string st = sc.str("type", "fifo", {"fifo", "async_hyperband", "asha"});
  h.scheduler = st == "fifo" ? "fifo" : "asha";
  std::string attr = sc.str("time_attr", "training_iteration", {"training_iteration", "epoch"});
  (void)attr;
  h.max_t = static_cast<int>(sc.integer("max_t", 0));
  h.grace_period = static_cast<int>(sc.integer("grace_period", 1));
  h.reduction_factor = sc.num("reduction_factor", 4);
  if (h.max_t < 0) sc.fail(sc.get("max_t"), "hyperopt.executor.scheduler.max_t", "expected epochs >= 1");
  if (h.grace_period < 1) sc.fail(sc.get("grace_period"), "hyperopt.executor.scheduler.grace_period", "expected epochs >= 1");
  if (!(h.reduction_factor > 1))
    sc.fail(sc.get("reduction_factor"), "hyperopt.executor.scheduler.reduction_factor", "expected a factor above 1");
  if (sc.integer("brackets", 1) != 1)
    sc.fail(sc.get("brackets"), "hyperopt.executor.scheduler.brackets", "only 1 bracket is supported");

  YAML::Node rr = b.get("rerank");
  auto enabled = [&](const YAML::Node& n, const std::string& path) {
    switch (parse_auto_bool(n.Scalar())) {
      case -1: return std::string("auto");
      case 1: return std::string("on");
      case 0: return std::string("off");
    }
    b.fail(n, path, "expected true, false or auto, got '" + n.Scalar() + "'");
    return std::string();
  };
  if (rr && rr.IsScalar()) {
    h.rerank = enabled(rr, "hyperopt.rerank");
  } else {
    Block r(file, rr, "hyperopt.rerank", {"enabled", "top_k", "folds", "max_budget_fraction"});
    if (r.has("enabled")) {
      if (!r.get("enabled").IsScalar()) r.fail(r.get("enabled"), "hyperopt.rerank.enabled", "expected true, false or auto");
      h.rerank = enabled(r.get("enabled"), "hyperopt.rerank.enabled");
    }
    h.rerank_top_k = static_cast<int>(r.integer("top_k", h.rerank_top_k));
    if (h.rerank_top_k < 2) r.fail(r.get("top_k"), "hyperopt.rerank.top_k", "expected at least 2 trials to compare");
    h.rerank_folds = static_cast<int>(r.integer("folds", h.rerank_folds));
    if (h.rerank_folds < 2 || h.rerank_folds > 20) r.fail(r.get("folds"), "hyperopt.rerank.folds", "expected 2 to 20 folds");
    h.rerank_max_fraction = r.num("max_budget_fraction", h.rerank_max_fraction);
    if (!(h.rerank_max_fraction > 0 && h.rerank_max_fraction < 1))
      r.fail(r.get("max_budget_fraction"), "hyperopt.rerank.max_budget_fraction", "expected a fraction between 0 and 1");
  }
  return h;
}

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
  std::vector<std::string> parts = split_dots(path);
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
  std::vector<std::string> parts = split_dots(path);
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
