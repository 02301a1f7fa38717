#include "util/log.h"

#include <iostream>
#include <mutex>

namespace kiln {
namespace {
std::mutex mu;
}  // namespace

void warn(const std::string& message) {
  std::lock_guard<std::mutex> lock(mu);
  std::cerr << "kiln: warning: " << message << "\n";
}

}  // namespace kiln
