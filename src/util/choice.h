#pragma once
#include <string>
#include <vector>

#include "util/strings.h"

namespace kiln {

// Adds "key: unknown value 'x'; did you mean 'y'?" to `problems` unless value is allowed.
inline void check_choice(std::vector<std::string>& problems, const std::string& key,
                         const std::string& value, const std::vector<std::string>& allowed) {
  for (const auto& a : allowed)
    if (a == value) return;
  problems.push_back(key + ": unknown value '" + value + "'" + suggest(value, allowed));
}

}  // namespace kiln
