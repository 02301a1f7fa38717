#pragma once
// Applying a trial's values to a config (the hyperopt block itself: config/hyperopt_spec.h). Done
// on the raw YAML, so the result goes through the ordinary config parser.
#include <yaml-cpp/yaml.h>

#include <string>

#include "config/hyperopt_spec.h"

namespace kiln {

// Sets a dotted path in a raw config: trainer.*, combiner.*, preprocessing.*, defaults.*, or
// <feature name>.* (input or output feature). `encoder: dense` style strings become {type: ...}.
// Throws ConfigError when the path names no section or feature.
void set_config_path(YAML::Node& config, const std::string& path, const YAML::Node& value);

// Why `path` does not apply to a config ("" when it does): a parameter of a typed component
// (combiner.X, <feature>.encoder.X, <feature>.decoder.X, trainer.optimizer.X) applies only when
// the component's chosen type has option X, so one search can cover several architectures.
// Other paths always apply (the config parser judges them).
std::string inapplicable_reason(const YAML::Node& config, const std::string& path);

std::string yaml_to_string(const YAML::Node& n);  // flow style, one line

}  // namespace kiln
