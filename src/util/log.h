#pragma once
// Warnings about the data that do not stop a run (values truncated, empty texts). One line each
// on stderr, prefixed "kiln: warning: "; printed even with -q, which only silences progress.
#include <string>

namespace kiln {

void warn(const std::string& message);

}  // namespace kiln
