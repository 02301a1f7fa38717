#pragma once
// Auto-config, first part: infer a feature type for every column of a dataset, with the reason
// for each choice, and build a Ludwig-style config around a target column.
#include <string>
#include <vector>

namespace kiln {

struct ColumnGuess {
  std::string column;
  std::string type;  // number | binary | category | text | image | date | "" (excluded)
  std::string reason;
  std::string fallback_true_label;  // binary columns whose values are not boolean spellings
};

struct InferredConfig {
  std::vector<ColumnGuess> columns;
  std::string target;
  bool has_split_column = false;
  std::string yaml;  // the config
  std::vector<std::string> unsupported_types;  // inferred types this build cannot train yet
};

// Reads the dataset, infers column types, and writes a config predicting `target`. A partial
// user config (`user_yaml`, may be empty) overrides features by name and adds its other keys.
// Throws DataError / ConfigError naming the problem.
InferredConfig infer_config(const std::string& dataset, const std::string& target,
                            const std::string& user_yaml, const std::string& user_file);

}  // namespace kiln
