#pragma once
// The `hyperopt:` block (Ludwig syntax): goal, metric, output_feature, split, the parameters'
// search spaces, the search algorithm, the executor and its scheduler, and Kiln's rerank. Read by
// the same visitor as the rest of the config (config/yaml_io.h: limits and choices declared with
// each field, every problem reported together with file:line:col), so `kiln config --validate`
// and `kiln hyperopt` check it the same way; then resolved into the HyperoptSpec the study runs.
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace kiln {

// Ray Tune / Ludwig space types. Integer spaces: randint and lograndint exclude `upper`,
// qrandint and qlograndint include it (Ray Tune's conventions).
enum class SpaceType {
  choice, grid_search, uniform, quniform, loguniform, qloguniform, randn, qrandn,
  randint, qrandint, lograndint, qlograndint
};

struct ParamSpace {
  std::string path;  // dotted config path, e.g. trainer.learning_rate, Age.encoder.type
  std::string where;  // file:line:column of its key, for errors
  SpaceType type = SpaceType::uniform;
  double lower = 0, upper = 1, q = 0, base = 10, mean = 0, sd = 1;
  std::vector<YAML::Node> categories;  // choice / grid_search values (scalars, lists or maps)

  bool categorical() const { return type == SpaceType::choice || type == SpaceType::grid_search; }
  bool integer() const;
  bool log_scale() const;
  // Internal coordinate: categorical spaces use the category index; numeric ones the value
  // (log_base of it for log spaces), continuous, before rounding or quantization.
  double internal_low() const;   // numeric, bounded spaces only
  double internal_high() const;
  bool bounded() const { return type != SpaceType::randn && type != SpaceType::qrandn; }
  double sample_internal(std::mt19937_64& rng) const;
  YAML::Node value(double internal) const;  // the config value for an internal coordinate
  std::string type_name() const;
};

struct HyperoptSpec {
  std::string goal = "minimize";  // minimize | maximize
  std::string metric = "loss";
  std::string output_feature = "combined";
  std::string split = "validation";
  std::vector<ParamSpace> parameters;
  // search_alg.type: random (also variant_generator: grid_search values are crossed, other
  // spaces sampled) or tpe (also hyperopt, optuna).
  std::string search_alg = "random";
  int64_t random_state = 42;
  int n_startup_trials = 10;  // tpe: random trials before the model is used
  // executor
  int64_t num_samples = 10;    // -1: until the time budget ends
  double time_budget_s = 3600;
  int max_concurrent_trials = 0;  // 0: auto (cores / cpu_resources_per_trial)
  double cpu_resources_per_trial = 1;
  double trial_time_limit_s = 0;  // 0: none
  // scheduler: fifo, or async_hyperband (asha) on epochs
  std::string scheduler = "fifo";
  int max_t = 0;  // 0: trainer.epochs
  int grace_period = 1;
  double reduction_factor = 4;

  // Kiln's extension, `rerank:` (true | false | auto, or a mapping with enabled, top_k, folds,
  // max_budget_fraction): before the best model is chosen, the top_k trials by validation metric
  // are trained again on `folds` folds of the training + validation rows and ranked by their mean
  // fold metric. With thousands of trials compared on a small validation split, the top of the
  // leaderboard is partly the split's noise; the folds' mean is not. The re-ranking gets the end
  // of the time budget, at most max_budget_fraction of it, and as many candidates as fit (at
  // least 2, else it is skipped). auto: on when the validation split has fewer than 2000 rows.
  std::string rerank = "auto";  // auto | on | off
  int rerank_top_k = 5, rerank_folds = 5;
  double rerank_max_fraction = 0.25;

  bool maximize() const { return goal == "maximize"; }
  int64_t grid_size() const;  // product of grid_search sizes (1 without any)
  int64_t total_trials() const;  // num_samples (x grid size for random/grid); -1: unbounded
};

// Reads config's `hyperopt:` node into `out`, adding every problem found to `errors`
// ("file:line:col: hyperopt.<key>: message"). parse_config calls it with the rest of the config.
void read_hyperopt(const YAML::Node& node, const std::string& file, HyperoptSpec& out,
                   std::vector<std::string>& errors);
// read_hyperopt, throwing ConfigError with every problem.
HyperoptSpec parse_hyperopt(const YAML::Node& node, const std::string& file);

// The space types by name (choice, grid_search, uniform, ...).
const std::vector<std::string>& space_type_names();

}  // namespace kiln
