#pragma once
// Milliseconds on the monotonic clock: deadlines and durations that survive wall-clock changes.
#include <chrono>
#include <cstdint>

namespace kiln {

inline int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace kiln
