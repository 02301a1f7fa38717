#pragma once
#include <algorithm>
#include <atomic>
#include <exception>
#include <functional>
#include <thread>
#include <vector>

namespace kiln {

// Runs fn(0..n-1) on up to `threads` threads (the caller's included); rethrows the exception of
// the lowest index that failed, as a sequential loop would report first.
inline void parallel_for(size_t n, int threads, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::vector<std::exception_ptr> errors(n);
  auto work = [&] {
    for (size_t i; (i = next++) < n;) {
      try {
        fn(i);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  for (int k = 1; k < std::min<int>(threads, static_cast<int>(n)); ++k) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace kiln
