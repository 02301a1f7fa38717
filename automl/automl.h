#pragma once
// kiln automl: "give it a CSV, a target column and a time budget; get the best model it could
// find in that time, plus the config that made it." Infers the features (type_inference.h),
// picks the base settings and search space of the feature mix (configs/automl/: tabular, text,
// image), and runs the hyperopt study with the budget.
#include <string>

#include "automl/type_inference.h"

namespace kiln {

struct AutomlOptions {
  std::string dataset, target, output_directory = "results";
  std::string user_config;  // optional partial config: its features and keys override, its
                            // explicitly set parameters leave the search
  double time_limit_s = 600;
  int workers = 0, threads = 0;
  bool resume = false, quiet = false;
  std::string command_line;
};

int run_automl(const AutomlOptions& o);

// The full config (features + base settings + hyperopt block) automl searches with.
// `mix` receives tabular | text | image.
std::string automl_config(const InferredConfig& r, const std::string& user_yaml, double time_limit_s,
                          std::string* mix);

}  // namespace kiln
