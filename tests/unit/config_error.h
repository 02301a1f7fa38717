#pragma once
// The message parse_config throws for a config written as "m.yaml", or "" when it parses.
#include <string>

#include "config/config.h"
#include "util/error.h"

namespace kiln {

inline std::string config_error_of(const std::string& yaml) {
  try {
    parse_config(yaml, "m.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace kiln
