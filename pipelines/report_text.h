#pragma once
#include <string>

#include "train/evaluate.h"

namespace kiln {

// One block of aligned lines: "<split> (<rows> rows)" then one line per output with its metrics.
std::string format_metrics(const std::string& title, const Evaluation& e);

}  // namespace kiln
