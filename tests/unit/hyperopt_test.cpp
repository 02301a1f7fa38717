// Hyperopt building blocks: space parsing and its errors, values of every space type, config
// paths, TPE against random search on fixed objectives, ASHA, and the trial store.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "automl/hyperopt_report.h"
#include "automl/samplers.h"
#include "automl/search_space.h"
#include "automl/trial_store.h"
#include "config/schema.h"
#include "data/split.h"
#include "util/error.h"

using namespace kiln;

static HyperoptSpec spec(const std::string& yaml) { return parse_hyperopt(YAML::Load(yaml), "h.yaml"); }

static std::string error_of(const std::string& yaml) {
  try {
    spec(yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// Findings of the fuzz_hyperopt target (tests/fuzz): each input once escaped as an exception
// other than ConfigError (yaml-cpp's "bad conversion" for a mapping key that is not text), or
// converted a double past int64's range (undefined behaviour, reported by UBSan).
TEST_CASE("hyperopt block: keys that are not text are a ConfigError naming the place (fuzz findings)") {
  // Every problem of the block is reported, not only the first.
  CHECK(error_of("rerank: {top_k: 1}\nparameters: {!.b: {space: uniform, lower: 5, upper: 1}}\n") ==
        "h.yaml:2:14: hyperopt.parameters: expected dotted config paths as keys, got a mapping\n"
        "h.yaml:1:17: hyperopt.rerank.top_k: expected at least 2 trials to compare");
  CHECK(error_of("parameters: {[a, b]: {space: uniform, lower: 0, upper: 1}}\n") ==
        "h.yaml:1:14: hyperopt.parameters: expected dotted config paths as keys, got a list");
  CHECK(error_of("{a: 1}: 2\nparameters: {a.b: {space: uniform, lower: 0, upper: 1}}\n") ==
        "h.yaml:1:1: hyperopt: expected a key name, got a mapping");
  CHECK(error_of("parameters: {combiner.num_layers: {space: randint, lower: 1, upper: 777777777777777777777}}\n") ==
        "h.yaml:1:69: hyperopt.parameters.combiner.num_layers.upper: expected an integer of at most 2^53 in "
        "magnitude, got 7.777777777777778e+20");
}

TEST_CASE("hyperopt block: defaults, search_alg, executor, scheduler") {
  HyperoptSpec h = spec(
      "goal: maximize\nmetric: roc_auc\noutput_feature: y\nparameters:\n"
      "  trainer.learning_rate: {space: loguniform, lower: 0.0001, upper: 0.1}\n"
      "search_alg: {type: hyperopt, random_state: 7}\n"
      "executor: {num_samples: 20, time_budget_s: 60, max_concurrent_trials: 2,\n"
      "           scheduler: {type: async_hyperband, grace_period: 2, reduction_factor: 3, max_t: 30}}\n");
  CHECK(h.maximize());
  CHECK(h.search_alg == "tpe");
  CHECK(h.random_state == 7);
  CHECK(h.num_samples == 20);
  CHECK(h.time_budget_s == 60);
  CHECK(h.max_concurrent_trials == 2);
  CHECK(h.scheduler == "asha");
  CHECK(h.grace_period == 2);
  CHECK(h.max_t == 30);
  HyperoptSpec d = spec("parameters: {trainer.batch_size: {space: choice, categories: [32, 64]}}");
  CHECK(d.goal == "minimize");
  CHECK(d.metric == "loss");
  CHECK(d.output_feature == "combined");
  CHECK(d.search_alg == "random");
  CHECK(d.time_budget_s == 3600);  // Ludwig's default
  CHECK(d.scheduler == "fifo");
  CHECK(d.rerank == "auto");
  CHECK(d.rerank_top_k == 5);
  CHECK(d.rerank_folds == 5);
  HyperoptSpec off = spec("rerank: false\nparameters: {trainer.batch_size: {space: choice, categories: [32, 64]}}");
  CHECK(off.rerank == "off");
  HyperoptSpec r = spec("rerank: {enabled: true, top_k: 3, folds: 4, max_budget_fraction: 0.1}\n"
                        "parameters: {trainer.batch_size: {space: choice, categories: [32, 64]}}");
  CHECK(r.rerank == "on");
  CHECK(r.rerank_top_k == 3);
  CHECK(r.rerank_folds == 4);
  CHECK(r.rerank_max_fraction == doctest::Approx(0.1));
}

TEST_CASE("hyperopt block: bad spaces and keys give one clear error naming the place") {
  CHECK(error_of("parameters:\n  trainer.learning_rate: {space: lognormal, lower: 1, upper: 2}\n") ==
        "h.yaml:2:34: hyperopt.parameters.trainer.learning_rate.space: unknown space type 'lognormal'; expected one "
        "of: categorical, choice, grid_search, int, lograndint, loguniform, qlograndint, qloguniform, qrandint, "
        "qrandn, quniform, randint, randn, uniform");
  CHECK(error_of("parameters:\n  combiner.dropout: {space: uniform, lower: 0.5, upper: 0.1}\n") ==
        "h.yaml:2:57: hyperopt.parameters.combiner.dropout.upper: bad bounds: lower 0.5 must be below upper 0.1");
  CHECK(error_of("parameters:\n  trainer.learning_rate: {space: loguniform, lower: 0, upper: 0.1}\n") ==
        "h.yaml:2:53: hyperopt.parameters.trainer.learning_rate.lower: loguniform needs lower > 0, got 0");
  CHECK(error_of("parameters:\n  combiner.num_fc_layers: {space: randint, lower: 3, upper: 3}\n") ==
        "h.yaml:2:61: hyperopt.parameters.combiner.num_fc_layers.upper: bad bounds: lower 3 must be below upper 3 (upper "
        "is excluded)");
  CHECK(error_of("parameters:\n  trainer.batch_size: {space: choice, categories: []}\n") ==
        "h.yaml:2:51: hyperopt.parameters.trainer.batch_size.categories: choice needs a non-empty 'categories' list");
  CHECK(error_of("parameters:\n  trainer.batch_size: {space: quniform, lower: 1, upper: 5}\n") ==
        "h.yaml:2:23: hyperopt.parameters.trainer.batch_size: quniform needs 'q' (the step)");
  CHECK(error_of("goal: maximise\nparameters: {a.b: {space: uniform, lower: 0, upper: 1}}\n") ==
        "h.yaml:1:7: hyperopt.goal: unknown goal 'maximise'; did you mean 'maximize'?");
  CHECK(error_of("parameters: {a.b: {space: uniform, lower: 0, upper: 1}}\nexecutor: {num_sample: 3}\n") ==
        "h.yaml:2:12: hyperopt.executor: unknown key 'num_sample'; did you mean 'num_samples'?");
  CHECK(error_of("split: test\nparameters: {a.b: {space: uniform, lower: 0, upper: 1}}\n").find(
            "hyperopt.split: only 'validation' is supported") != std::string::npos);
  CHECK(error_of("goal: maximize\n") == "h.yaml:1:1: hyperopt.parameters: expected a non-empty mapping of dotted "
                                       "config paths to spaces");
  CHECK(error_of("rerank: sometimes\nparameters: {a.b: {space: uniform, lower: 0, upper: 1}}\n") ==
        "h.yaml:1:9: hyperopt.rerank: expected true, false or auto, got 'sometimes'");
  CHECK(error_of("rerank: {folds: 1}\nparameters: {a.b: {space: uniform, lower: 0, upper: 1}}\n") ==
        "h.yaml:1:17: hyperopt.rerank.folds: expected 2 to 20 folds");
  CHECK(error_of("rerank: {top_k: 1}\nparameters: {a.b: {space: uniform, lower: 0, upper: 1}}\n") ==
        "h.yaml:1:17: hyperopt.rerank.top_k: expected at least 2 trials to compare");
}

TEST_CASE("k-fold rows: disjoint folds covering every row, strata in proportion, same seed same folds") {
  std::vector<int64_t> rows, strata;
  for (int64_t r = 0; r < 103; ++r) rows.push_back(r * 3), strata.push_back(r % 7 == 0 ? 1 : 0);  // 15 of class 1
  std::vector<int> seen(103 * 3, 0);
  for (int f = 0; f < 5; ++f) {
    auto [train, validation] = kfold_rows(rows, strata, 5, f, 42);
    CHECK(train.size() + validation.size() == rows.size());
    CHECK((validation.size() == 20 || validation.size() == 21));
    int64_t positives = 0;
    for (int64_t r : validation) ++seen[r], positives += (r / 3) % 7 == 0;
    CHECK((positives == 3 || positives == 4));  // 15 positives over 5 folds
    std::vector<int64_t> both = train;
    both.insert(both.end(), validation.begin(), validation.end());
    std::sort(both.begin(), both.end());
    CHECK(both == rows);
    CHECK(kfold_rows(rows, strata, 5, f, 42) == std::make_pair(train, validation));
  }
  for (int64_t r : rows) CHECK(seen[r] == 1);  // each row is validation exactly once
  CHECK(kfold_rows(rows, {}, 5, 0, 1).second != kfold_rows(rows, {}, 5, 0, 2).second);
  CHECK_THROWS_AS(kfold_rows(rows, strata, 5, 5, 42), ModelError);
}

TEST_CASE("space values follow Ray Tune's conventions and stay in bounds") {
  HyperoptSpec h = spec(
      "parameters:\n"
      "  a: {space: randint, lower: 1, upper: 5}\n"       // 1..4
      "  b: {space: qrandint, lower: 0, upper: 20, q: 5}\n"  // 0, 5, 10, 15, 20
      "  c: {space: loguniform, lower: 0.001, upper: 0.1}\n"
      "  d: {space: quniform, lower: 0, upper: 1, q: 0.25}\n"
      "  e: {space: lograndint, lower: 1, upper: 100}\n"
      "  f: {space: choice, categories: [x, [1, 2], {type: concat}]}\n"
      "  g: {space: randn, mean: 5, sd: 0.1}\n");
  std::mt19937_64 rng(3);
  std::set<int64_t> as, bs;
  std::set<std::string> fs;
  for (int i = 0; i < 2000; ++i) {
    std::vector<YAML::Node> v;
    for (const auto& p : h.parameters) v.push_back(p.value(p.sample_internal(rng)));
    as.insert(v[0].as<int64_t>());
    bs.insert(v[1].as<int64_t>());
    double c = v[2].as<double>();
    CHECK((c >= 0.001 && c <= 0.1));
    double d = v[3].as<double>();
    CHECK(std::fmod(d, 0.25) == doctest::Approx(0));
    int64_t e = v[4].as<int64_t>();
    CHECK((e >= 1 && e <= 99));
    fs.insert(yaml_to_string(v[5]));
    CHECK(std::fabs(v[6].as<double>() - 5) < 1);
  }
  CHECK(as == std::set<int64_t>{1, 2, 3, 4});
  CHECK(bs == std::set<int64_t>{0, 5, 10, 15, 20});
  CHECK(fs == std::set<std::string>{"x", "[1, 2]", "{type: concat}"});
}

TEST_CASE("Ludwig's optuna executor: sampler, pruner, int and categorical spaces, a split.output.metric metric") {
  HyperoptSpec h = spec(
      "goal: minimize\nmetric: validation.combined.loss\n"
      "executor: {type: optuna, num_samples: 7, sampler: auto, pruner: hyperband}\n"
      "parameters:\n"
      "  trainer.batch_size: {space: int, lower: 16, upper: 19}\n"
      "  trainer.optimizer.type: {space: categorical, categories: [adam, radam]}\n");
  CHECK(h.search_alg == "tpe");
  CHECK(h.scheduler == "asha");
  CHECK(h.num_samples == 7);
  CHECK(h.metric == "loss");
  CHECK(h.output_feature == "combined");
  CHECK(h.split == "validation");
  std::mt19937_64 rng(5);
  std::set<int64_t> sizes;
  std::set<std::string> opts;
  for (int i = 0; i < 400; ++i) {
    sizes.insert(h.parameters[0].value(h.parameters[0].sample_internal(rng)).as<int64_t>());
    opts.insert(h.parameters[1].value(h.parameters[1].sample_internal(rng)).as<std::string>());
  }
  CHECK(sizes == std::set<int64_t>{16, 17, 18, 19});  // both bounds included, as Optuna's suggest_int
  CHECK(opts == std::set<std::string>{"adam", "radam"});
  CHECK(spec("executor: {type: optuna, sampler: random}\nparameters: {a: {space: int, lower: 1, upper: 2}}").search_alg ==
        "random");
  HyperoptSpec m = spec("metric: y.accuracy\nparameters: {a: {space: int, lower: 1, upper: 2}}");
  CHECK(m.output_feature == "y");
  CHECK(m.metric == "accuracy");
  CHECK_THROWS_WITH_AS(spec("metric: validation.y.accuracy\noutput_feature: z\nparameters: {a: {space: int, lower: 1, upper: 2}}"),
                       "h.yaml:1:9: hyperopt.metric: names the output 'y', and output_feature is 'z'", ConfigError);
  CHECK_THROWS_WITH_AS(spec("executor: {type: optuna, sampler: gp}\nparameters: {a: {space: int, lower: 1, upper: 2}}"),
                       "h.yaml:1:35: hyperopt.executor.sampler: Ludwig's sampler 'gp' is not available in Kiln: Kiln's "
                       "samplers are tpe (also for auto) and random",
                       ConfigError);
}

TEST_CASE("grid_search values are crossed and repeated num_samples times (variant generator)") {
  HyperoptSpec h = spec(
      "parameters:\n  a: {space: grid_search, values: [1, 2, 3]}\n  b: {space: grid_search, values: [x, y]}\n"
      "  c: {space: uniform, lower: 0, upper: 1}\nexecutor: {num_samples: 2}\n");
  CHECK(h.grid_size() == 6);
  CHECK(h.total_trials() == 12);
  auto s = make_sampler(h);
  std::set<std::string> cells;
  for (int i = 0; i < 6; ++i) {
    auto x = s->suggest(i, {});
    cells.insert(h.parameters[0].value(x[0]).Scalar() + h.parameters[1].value(x[1]).Scalar());
  }
  CHECK(cells.size() == 6);
}

TEST_CASE("config paths: sections and features; options of the chosen component only") {
  register_builtins();
  YAML::Node c = YAML::Load(
      "input_features: [{name: age, type: number}, {name: job, type: category, encoder: dense}]\n"
      "output_features: [{name: y, type: binary}]\ncombiner: {type: concat}\n");
  set_config_path(c, "trainer.learning_rate", YAML::Node(0.01));
  set_config_path(c, "job.encoder.embedding_size", YAML::Node(8));
  CHECK(c["trainer"]["learning_rate"].as<double>() == 0.01);
  CHECK(c["input_features"][1]["encoder"]["type"].Scalar() == "dense");
  CHECK(c["input_features"][1]["encoder"]["embedding_size"].as<int>() == 8);
  CHECK_THROWS_WITH(set_config_path(c, "jobs.encoder.type", YAML::Node("dense")),
                    "hyperopt.parameters.jobs.encoder.type: no config section or feature named 'jobs'; did you "
                    "mean 'job'?");
  CHECK(inapplicable_reason(c, "combiner.num_fc_layers") == "");
  CHECK(inapplicable_reason(c, "combiner.num_heads") ==
        "'num_heads' is not an option of combiner concat; expected one of: fc_layers, num_fc_layers, "
        "output_size, activation, norm, dropout, residual, use_bias, flatten_inputs, type");
  CHECK(inapplicable_reason(c, "combiner.num_fc_layer") ==
        "'num_fc_layer' is not an option of combiner concat; did you mean 'num_fc_layers'?");
  set_config_path(c, "combiner.type", YAML::Node("ft_transformer"));
  CHECK(inapplicable_reason(c, "combiner.num_heads") == "");
}

// Minimizes f over the 2-D space with n trials; returns the best value found.
static double search(const std::string& alg, int64_t seed, int n, double (*f)(double, double)) {
  HyperoptSpec h = spec("parameters:\n  x: {space: uniform, lower: -5, upper: 5}\n"
                        "  y: {space: loguniform, lower: 0.00001, upper: 1}\n"
                        "search_alg: {type: " + alg + ", random_state: " + std::to_string(seed) + "}\n");
  auto s = make_sampler(h);
  std::vector<Observation> done;
  double best = INFINITY;
  for (int i = 0; i < n; ++i) {
    auto x = s->suggest(i, done);
    double v = f(h.parameters[0].value(x[0]).as<double>(), h.parameters[1].value(x[1]).as<double>());
    done.push_back({x, v});
    best = std::min(best, v);
  }
  return best;
}

static double bowl(double x, double y) { return (x - 1.3) * (x - 1.3) + std::pow(std::log10(y) + 3.2, 2); }
static double ridge(double x, double) { return std::fabs(x + 2.2); }

TEST_CASE("TPE beats random search on fixed objectives (median over seeds)") {
  for (auto f : {bowl, ridge}) {
    std::vector<double> tpe, rnd;
    for (int seed = 0; seed < 15; ++seed) {
      tpe.push_back(search("tpe", seed, 50, f));
      rnd.push_back(search("random", seed, 50, f));
    }
    std::sort(tpe.begin(), tpe.end());
    std::sort(rnd.begin(), rnd.end());
    INFO("tpe median " << tpe[7] << ", random median " << rnd[7]);
    CHECK(tpe[7] < rnd[7] * 0.5);
  }
}

TEST_CASE("samplers are deterministic per (random_state, trial index)") {
  HyperoptSpec h = spec("parameters: {x: {space: uniform, lower: 0, upper: 1}}\nsearch_alg: {type: tpe}\n");
  auto a = make_sampler(h), b = make_sampler(h);
  CHECK(a->suggest(3, {}) == b->suggest(3, {}));
  CHECK(a->suggest(3, {}) != a->suggest(4, {}));
}

TEST_CASE("ASHA stops the worse trials at the first rung and lets the best run to max_t") {
  HyperoptSpec h = spec("parameters: {x: {space: uniform, lower: 0, upper: 1}}\n"
                        "executor: {scheduler: {type: asha, grace_period: 1, reduction_factor: 2}}\n");
  auto s = make_scheduler(h, 8);
  // 8 trials run one after another; trial t's score is t-independent noise-free quality q[t].
  const double q[] = {0.5, 0.9, 0.2, 0.7, 0.1, 0.8, 0.3, 0.6};
  std::vector<int> epochs(8, 0);
  for (int t = 0; t < 8; ++t)
    for (int e = 1; e <= 8; ++e) {
      epochs[t] = e;
      if (!s->on_result(t, e, q[t] + 0.01 * e)) break;
    }
  CHECK(epochs[1] == 8);  // the best trial is never stopped before max_t
  CHECK(epochs[2] == 1);  // worse than the median of what rung 1 has seen
  CHECK(epochs[4] == 1);
  CHECK(epochs[6] == 1);
  int bad_half = epochs[2] + epochs[4] + epochs[6] + epochs[0];
  int good_half = epochs[1] + epochs[3] + epochs[5] + epochs[7];
  CHECK(bad_half < good_half / 2);
  auto fifo = make_scheduler(spec("parameters: {x: {space: uniform, lower: 0, upper: 1}}"), 8);
  CHECK(fifo->on_result(0, 1, -1e9));
}

TEST_CASE("trial store: trials and epochs round-trip") {
  char tmpl[] = "/tmp/kiln_store_XXXXXX";
  REQUIRE(mkdtemp(tmpl));
  const std::string path = std::string(tmpl) + "/s.sqlite";
  {
    TrialStore s(path);
    s.put("config_key", "abc");
    TrialRecord r;
    r.id = 3;
    r.params_json = "{\"a\":1}";
    r.internal = {0.25, 2};
    r.status = TrialStatus::completed;
    r.metric = 0.8;
    r.best_epoch = 2;
    r.epochs = 2;
    s.save(r);
    s.add_epoch(3, 1, 0.7, 1.5);
    s.add_epoch(3, 2, 0.8, 2.5);
  }
  TrialStore s(path);
  CHECK(s.get("config_key") == "abc");
  CHECK(s.get("missing") == "");
  auto all = s.load();
  REQUIRE(all.size() == 1);
  CHECK(all[0].internal == std::vector<double>{0.25, 2});
  CHECK(all[0].curve == std::vector<double>{0.7, 0.8});
  CHECK(all[0].status == TrialStatus::completed);
  CHECK(all[0].metric == 0.8);
  std::remove(path.c_str());
}

TEST_CASE("parameter importance credits the parameter that drives the metric") {
  HyperoptSpec h = spec("parameters:\n  a: {space: uniform, lower: 0, upper: 1}\n"
                        "  b: {space: choice, categories: [p, q]}\n");
  std::vector<TrialRecord> t;
  std::mt19937_64 rng(1);
  for (int i = 0; i < 40; ++i) {
    TrialRecord r;
    r.id = i;
    r.status = TrialStatus::completed;
    r.internal = {h.parameters[0].sample_internal(rng), h.parameters[1].sample_internal(rng)};
    r.metric = 3 * r.internal[0];
    t.push_back(r);
  }
  auto imp = parameter_importance(h, t);
  CHECK(imp[0] > 0.9);
  CHECK(imp[1] < 0.1);
}
