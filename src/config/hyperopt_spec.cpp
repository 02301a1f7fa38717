#include "config/hyperopt_spec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

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
      {"lograndint", SpaceType::lograndint}, {"qlograndint", SpaceType::qlograndint},
      // Ludwig's Optuna executor's names: suggest_int (both bounds included) and suggest_categorical.
      {"int", SpaceType::qrandint},          {"categorical", SpaceType::choice}};
  return m;
}

// Ludwig / Ray Tune search algorithm names → the sampler Kiln runs.
const std::map<std::string, std::string>& algorithms() {
  static const std::map<std::string, std::string> m = {
      {"random", "random"}, {"variant_generator", "random"}, {"grid", "random"},
      {"tpe", "tpe"},       {"hyperopt", "tpe"},             {"optuna", "tpe"}};
  return m;
}
std::vector<std::string> algorithm_names() {
  std::vector<std::string> k;
  for (const auto& [name, alg] : algorithms()) k.push_back(name);
  return k;
}

const Limit kFinite = in_range(-1.7976931348623157e308, 1.7976931348623157e308).saying("a finite number");
constexpr double kMaxExactInteger = 9007199254740992.0;  // 2^53: every integer up to it is exact as a double

// One parameter's space: {space: <type>, ...} with the keys its type takes.
struct SpaceBlock {
  std::string space;
  std::vector<YAML::Node> categories, values;
  std::optional<double> lower, upper, q, base, mean, sd;
  template <class V>
  void visit(V& v) {
    v("space", space, "the space type", one_of(space_type_names(), "space type"), required);
    v("categories", categories, "choice, categorical: the values");
    v("values", values, "grid_search: the values");
    v("lower", lower, "bounded spaces: lowest value", kFinite);
    v("upper", upper, "bounded spaces: highest value (randint, lograndint: excluded)", kFinite);
    v("q", q, "quantized spaces: the step (int: 1)", kFinite, above(0));
    v("base", base, "log spaces: the logarithm's base", kFinite, above(1));
    v("mean", mean, "randn, qrandn: mean", kFinite);
    v("sd", sd, "randn, qrandn: standard deviation", kFinite, above(0));
  }
  ParamSpace resolved() const {
    ParamSpace p;
    p.type = space_names().at(space);
    for (const auto& c : categories.empty() ? values : categories) p.categories.push_back(YAML::Clone(c));
    p.lower = lower.value_or(0), p.upper = upper.value_or(0), p.q = q.value_or(space == "int" ? 1 : 0);
    p.base = base.value_or(10);
    p.mean = mean.value_or(0), p.sd = sd.value_or(1);
    return p;
  }
  // Which keys the type takes, and how its bounds relate.
  std::vector<std::string> problems() const {
    std::vector<std::string> out;
    const ParamSpace p = resolved();
    auto forbid = [&](std::initializer_list<std::pair<const char*, bool>> keys) {
      for (auto [k, given] : keys)
        if (given) out.push_back(std::string(k) + ": not an option of space " + space);
    };
    if (p.categorical()) {
      forbid({{"lower", bool(lower)}, {"upper", bool(upper)}, {"q", bool(q)}, {"base", bool(base)},
              {"mean", bool(mean)}, {"sd", bool(sd)}});
      const char* list = p.type == SpaceType::choice ? "categories" : "values";
      if (p.categories.empty()) out.push_back(std::string(list) + ": " + space + " needs a non-empty '" + list + "' list");
      return out;
    }
    forbid({{"categories", !categories.empty()}, {"values", !values.empty()}});
    if (!p.bounded()) {
      forbid({{"lower", bool(lower)}, {"upper", bool(upper)}, {"base", bool(base)}});
    } else {
      forbid({{"mean", bool(mean)}, {"sd", bool(sd)}});
      if (!lower || !upper) {
        out.push_back(space + " needs 'lower' and 'upper'");
        return out;
      }
      if (p.integer())
        for (auto [k, v] : {std::pair<const char*, double>{"lower", *lower}, {"upper", *upper}}) {
          if (std::fabs(v) > kMaxExactInteger)
            out.push_back(std::string(k) + ": expected an integer of at most 2^53 in magnitude, got " + format_double(v));
          else if (v != std::floor(v))
            out.push_back(std::string(k) + ": expected an integer, got " + format_double(v));
        }
      const bool exclusive = p.type == SpaceType::randint || p.type == SpaceType::lograndint;
      if (exclusive ? !(p.lower < p.upper) : !(p.lower <= p.upper) || (p.lower == p.upper && !p.integer()))
        out.push_back("upper: bad bounds: lower " + format_double(p.lower) + " must be below upper " +
                      format_double(p.upper) + (exclusive ? " (upper is excluded)" : ""));
      if (p.log_scale() && !(p.lower > 0))
        out.push_back("lower: " + space + " needs lower > 0, got " + format_double(p.lower));
      if (base && !p.log_scale()) out.push_back("base: only log spaces take a base");
    }
    const bool quantized = p.type == SpaceType::quniform || p.type == SpaceType::qloguniform ||
                           p.type == SpaceType::qrandn || p.type == SpaceType::qrandint ||
                           p.type == SpaceType::qlograndint;
    if (quantized && !q && space != "int") out.push_back(space + " needs 'q' (the step)");
    if (!quantized) forbid({{"q", bool(q)}});
    return out;
  }
};

struct SearchAlgBlock {
  std::string type = "random";
  std::optional<int64_t> random_state, seed;
  int n_startup_trials = 10;
  template <class V>
  void visit(V& v) {
    v("type", type, "search algorithm", one_of(algorithm_names(), "search algorithm"));
    v("random_state", random_state, "seed of the sampler");
    v("seed", seed, "alias of random_state");
    v("n_startup_trials", n_startup_trials, "tpe: random trials before the model is used", at_least(1));
  }
};

// The older `sampler:` block.
struct SamplerBlock {
  std::optional<std::string> type;
  std::optional<int64_t> num_samples;
  template <class V>
  void visit(V& v) {
    v("type", type, "search algorithm", one_of(algorithm_names(), "search algorithm"));
    v("num_samples", num_samples, "number of trials");
  }
};

struct SchedulerBlock {
  std::string type = "fifo";
  std::string time_attr = "training_iteration";
  int max_t = 0;
  int grace_period = 1;
  double reduction_factor = 4;
  int brackets = 1;
  std::optional<std::string> metric, mode;
  template <class V>
  void visit(V& v) {
    v("type", type, "fifo, or async_hyperband (asha): stop weak trials early", one_of({"fifo", "async_hyperband", "asha"}, "scheduler"));
    v("time_attr", time_attr, "what max_t counts (epochs)", one_of({"training_iteration", "epoch"}));
    v("max_t", max_t, "epochs of the longest trial (0: trainer.epochs)", at_least(0));
    v("grace_period", grace_period, "epochs every trial runs before it may be stopped", at_least(1));
    v("reduction_factor", reduction_factor, "1 / the fraction of trials kept at each rung", above(1));
    v("brackets", brackets, "brackets of the hyperband", one_of_numbers({1}).saying("1 (only one bracket is supported)"));
    v("metric", metric, "accepted for Ray Tune configs (the hyperopt metric is used)");
    v("mode", mode, "accepted for Ray Tune configs (the hyperopt goal is used)");
  }
};

struct ExecutorBlock {
  std::string type = "ray";
  std::optional<int64_t> num_samples;
  double time_budget_s = 3600;
  std::string max_concurrent_trials = "auto";
  double cpu_resources_per_trial = 1;
  double gpu_resources_per_trial = 0;
  double trial_time_limit_s = 0;
  SchedulerBlock scheduler;
  std::optional<std::string> kubernetes_namespace;
  std::optional<std::string> sampler, pruner;  // Ludwig's optuna executor
  static OneOf concurrency() {
    OneOf o = one_of({"auto"});
    o.accepts = [](const std::string& s) {
      int64_t n = 0;
      return s == "auto" || (parse_int(s, n) && n >= 1);
    };
    o.expected = "at least 1 (or auto)";
    return o;
  }
  template <class V>
  void visit(V& v) {
    v("type", type, "accepted for Ludwig configs: trials run as local processes",
      one_of({"ray", "local", "serial", "parallel", "optuna"}, "executor"));
    v("sampler", sampler,
      "Ludwig's optuna executor: the search algorithm, over search_alg (auto and tpe: Kiln's TPE, which "
      "Optuna's AutoSampler also picks for spaces with categories; random)",
      one_of({"auto", "tpe", "random"}, "sampler"));
    v("pruner", pruner,
      "Ludwig's optuna executor: hyperband stops weak trials early (Kiln's async_hyperband scheduler)",
      one_of({"hyperband"}, "pruner"));
    v("num_samples", num_samples, "number of trials (-1: until the time budget ends)");
    v("time_budget_s", time_budget_s, "seconds for the whole study", kFinite, above(0));
    v("max_concurrent_trials", max_concurrent_trials, "trials run at once (auto: cores / cpu_resources_per_trial)",
      concurrency());
    v("cpu_resources_per_trial", cpu_resources_per_trial, "threads per trial", kFinite, above(0));
    v("gpu_resources_per_trial", gpu_resources_per_trial, "must be 0",
      one_of_numbers({0}).saying("0 (this build trains on CPU only)"));
    v("trial_time_limit_s", trial_time_limit_s, "seconds per trial (0: none)", kFinite, at_least(0));
    v("scheduler", scheduler, "fifo or async_hyperband");
    v("kubernetes_namespace", kubernetes_namespace, "accepted for Ludwig configs; not used");
  }
  std::vector<std::string> problems() const {
    if (num_samples && (*num_samples == 0 || *num_samples < -1))
      return {"num_samples: expected a positive count (or -1: until the time budget ends)"};
    return {};
  }
};

struct RerankBlock {
  std::string enabled = "auto";
  int top_k = 5, folds = 5;
  double max_budget_fraction = 0.25;
  template <class V>
  void visit(V& v) {
    v("enabled", enabled, "true | false | auto (on when the validation split has fewer than 2000 rows)", auto_bool());
    v("top_k", top_k, "trials re-ranked", at_least(2).saying("at least 2 trials to compare"));
    v("folds", folds, "folds each candidate is trained on", in_range(2, 20).saying("2 to 20 folds"));
    v("max_budget_fraction", max_budget_fraction, "largest share of the time budget the re-ranking takes",
      in_range(0, 1, true, true).saying("a fraction between 0 and 1"));
  }
};

std::string auto_bool_state(const std::string& v) {
  switch (parse_auto_bool(v)) {
    case 1: return "on";
    case 0: return "off";
    default: return "auto";
  }
}

}  // namespace

const std::vector<std::string>& space_type_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> k;
    for (const auto& [name, t] : space_names()) k.push_back(name);
    return k;
  }();
  return names;
}

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

void read_hyperopt(const YAML::Node& node, const std::string& file, HyperoptSpec& h,
                   std::vector<std::string>& errors) {
  h = HyperoptSpec();
  YamlReader r(file, node, "hyperopt", &errors);
  if (!node || node.IsNull()) {
    errors.push_back(file + ": the config has no hyperopt block");
    return;
  }
  if (!node.IsMap()) {
    r.error(node, "hyperopt", "expected a mapping, got " + scalar_text(node));
    return;
  }
  SearchAlgBlock search_alg;
  std::optional<SamplerBlock> sampler;
  ExecutorBlock executor;
  r("goal", h.goal, "minimize | maximize", one_of({"minimize", "maximize"}, "goal"));
  r("metric", h.metric, "the metric the study optimizes");
  r("output_feature", h.output_feature, "the output whose metric it is (combined: all)");
  r("split", h.split, "the split the metric is measured on");
  r("search_alg", search_alg, "how parameters are sampled");
  r("sampler", sampler, "older spelling of search_alg");
  r("executor", executor, "trials, time budget, concurrency, scheduler");
  // metric: <split>.<output>.<metric> or <output>.<metric> (the form Ludwig's Optuna example
  // writes) names the split and output too; written beside split or output_feature, they must agree.
  if (const size_t dot = h.metric.rfind('.'); dot != std::string::npos) {
    const YAML::Node& cn = node;
    std::string head = h.metric.substr(0, dot);
    h.metric = h.metric.substr(dot + 1);
    for (const char* split : {"training.", "validation.", "test."})
      if (head.rfind(split, 0) == 0) {
        const std::string named(split, std::strlen(split) - 1);
        if (cn["split"] && h.split != named)
          r.report(cn["metric"], "hyperopt", {"metric: names the split '" + named + "', and split is '" + h.split + "'"});
        h.split = named;
        head = head.substr(named.size() + 1);
      }
    if (cn["output_feature"] && h.output_feature != head)
      r.report(cn["metric"], "hyperopt",
               {"metric: names the output '" + head + "', and output_feature is '" + h.output_feature + "'"});
    h.output_feature = head;
  }
  if (h.split != "validation")
    r.report(node, "hyperopt", {"split: only 'validation' is supported: the test split is held out from the "
                                "search, and the training split would reward overfitting"});

  // parameters: {<dotted config path>: <space>}
  r.mark_known("parameters");
  const YAML::Node& cn = node;
  YAML::Node params = cn["parameters"];
  if (!params || !params.IsMap() || params.size() == 0) {
    r.error(params ? params : node, "hyperopt.parameters", "expected a non-empty mapping of dotted config paths to spaces");
  } else {
    for (const auto& kv : params) {
      if (!kv.first.IsScalar()) {
        r.error(kv.first, "hyperopt.parameters", "expected dotted config paths as keys, got " + scalar_text(kv.first));
        continue;
      }
      const std::string key = kv.first.Scalar();
      const std::string path = "hyperopt.parameters." + key;
      SpaceBlock b;
      const size_t before = errors.size();
      r.read_value(kv.second, b, path);
      if (errors.size() != before) continue;
      ParamSpace p = b.resolved();
      p.path = key;
      p.where = yaml_where(file, kv.second);
      if (key == ".")
        for (size_t i = 0; i < p.categories.size(); ++i)
          if (!p.categories[i].IsMap())
            r.error(p.categories[i], path, "the '.' parameter's values must be mappings of config keys, got " +
                                               scalar_text(p.categories[i]));
      h.parameters.push_back(std::move(p));
    }
  }

  // rerank: true | false | auto, or a mapping.
  r.mark_known("rerank");
  YAML::Node rr = cn["rerank"];
  RerankBlock rerank;
  if (rr && rr.IsScalar()) {
    const std::string p = auto_bool().problem(rr.Scalar());
    if (!p.empty()) r.error(rr, "hyperopt.rerank", p);
    rerank.enabled = rr.Scalar();
  } else if (rr && !rr.IsNull()) {
    r.read_value(rr, rerank, "hyperopt.rerank");
  }
  r.finish("hyperopt");

  // Resolved into what the study runs.
  std::string alg = search_alg.type;
  if (sampler && sampler->type) alg = *sampler->type;
  if (executor.sampler) alg = *executor.sampler == "random" ? "random" : "tpe";
  h.search_alg = algorithms().count(alg) ? algorithms().at(alg) : "random";
  h.random_state = search_alg.random_state.value_or(search_alg.seed.value_or(42));
  h.n_startup_trials = search_alg.n_startup_trials;
  h.num_samples = executor.num_samples.value_or(sampler && sampler->num_samples ? *sampler->num_samples : 10);
  h.time_budget_s = executor.time_budget_s;
  int64_t concurrent = 0;
  h.max_concurrent_trials = parse_int(executor.max_concurrent_trials, concurrent) ? static_cast<int>(concurrent) : 0;
  h.cpu_resources_per_trial = executor.cpu_resources_per_trial;
  h.trial_time_limit_s = executor.trial_time_limit_s;
  h.scheduler = executor.scheduler.type == "fifo" && !executor.pruner ? "fifo" : "asha";
  h.max_t = executor.scheduler.max_t;
  h.grace_period = executor.scheduler.grace_period;
  h.reduction_factor = executor.scheduler.reduction_factor;
  h.rerank = auto_bool_state(rerank.enabled);
  h.rerank_top_k = rerank.top_k;
  h.rerank_folds = rerank.folds;
  h.rerank_max_fraction = rerank.max_budget_fraction;
}

HyperoptSpec parse_hyperopt(const YAML::Node& node, const std::string& file) {
  HyperoptSpec h;
  std::vector<std::string> errors;
  read_hyperopt(node, file, h, errors);
  if (!errors.empty()) throw ConfigError(join(errors, "\n"));
  return h;
}

}  // namespace kiln
