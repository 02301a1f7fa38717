#pragma once
// A hyperopt study as the coordinator runs it: the config's hyperopt block, checked (its metric
// and output feature, every parameter applying to some architecture, sampled configs parsing),
// and the base config each trial's config is made from.
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "automl/hyperopt.h"
#include "automl/search_space.h"
#include "automl/trial_store.h"
#include "util/json.h"

namespace kiln {

struct Study {
  HyperoptSpec h;
  YAML::Node base;  // the config without its hyperopt block, watching the hyperopt metric
  std::string file;
  int epochs = 0;   // trainer.epochs of the base config (ASHA's default max_t)
};

// Reads and checks the study; throws ConfigError at the place of the first problem.
Study load_study(const HyperoptOptions& o);

// The trial's config for internal coordinates x. Type choices are applied first, so that the
// options of the chosen components decide which other parameters apply. params_json receives
// {"<path>": value or null when the parameter does not apply}; applied_out which ones applied.
YAML::Node trial_config(const Study& s, const std::vector<double>& x, std::string* params_json,
                        std::vector<bool>* applied_out = nullptr);

// A YAML value as JSON: numbers and booleans stay typed, other scalars are strings, lists and
// maps are written as their flow-style YAML text.
void json_yaml_value(JsonWriter& w, const YAML::Node& v);

// Whether metric value a beats b under the study's goal (a NaN never beats, anything beats NaN).
bool better(const HyperoptSpec& h, double a, double b);
// The trials best first (stable: ties keep their order; NaN metrics last).
std::vector<const TrialRecord*> ranked(const HyperoptSpec& h, const std::vector<TrialRecord>& trials);

// A config as YAML text (block style, ending in a newline).
std::string emit_yaml(const YAML::Node& n);

}  // namespace kiln
