#pragma once
// The threads of a run: every parallel loop in Kiln runs on one process-wide pool of worker
// threads, started on first use and reused (no loop starts threads of its own). A loop uses at
// most the number of threads it is given, the caller's thread included. A loop started inside
// another loop's task shares that loop's threads: it gets helpers only while some of the outer
// loop's are idle (one expensive feature's image decoding uses the threads the cheap features
// have finished with), so nesting never adds threads. Pool workers run torch's own kernels on one
// thread each (their OpenMP thread count is 1).
//
// The thread count is passed down from the --threads a command resolved. Code that receives none
// (a feature type decoding images) asks ThreadScope::current(): inside a loop's task, that loop's
// count; else the count of the innermost ThreadScope on this thread, which the pipelines open
// where they resolve --threads; 1 where none is open.
#include <atomic>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace kiln {

// Runs fn(0..n-1) on up to `threads` threads (the caller's included); rethrows the exception of
// the lowest index that failed, as a sequential loop would report first.
void parallel_for(size_t n, int threads, const std::function<void(size_t)>& fn);

class ThreadScope {
 public:
  explicit ThreadScope(int threads);
  ~ThreadScope();
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;
  static int current();

 private:
  int saved_;
};

// The most threads that ran parallel_for tasks at the same time while it lives (for tests: the
// threads a step actually used). Not the distinct threads: successive loops may each get another
// pool worker as their helper. One probe at a time.
class ThreadUsageProbe {
 public:
  ThreadUsageProbe();
  ~ThreadUsageProbe();
  size_t threads() const;
  void enter();  // this thread starts running a loop's tasks (nested loops count once)
  void leave();

 private:
  mutable std::mutex mutex_;
  std::map<std::thread::id, int> depth_;  // threads running tasks now, and how deeply nested
  size_t most_ = 0;
};

}  // namespace kiln
