// One execution context for threads (util/parallel.h): loops run on one shared pool, never on
// more threads than they are given, nested loops do not multiply threads, and preprocessing with
// --threads 1 runs on one thread even where the feature types decode in parallel.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

#include "config/config.h"
#include "pipelines/preprocess.h"
#include "util/parallel.h"

using namespace kiln;

TEST_CASE("parallel_for: at most the threads given, nested loops within the outer loop's, the lowest index's error") {
  std::atomic<int> sum{0};
  {
    ThreadUsageProbe probe;
    parallel_for(200, 1, [&](size_t i) { sum += static_cast<int>(i); });
    CHECK(probe.threads() == 1);
  }
  CHECK(sum == 199 * 200 / 2);
  {
    ThreadUsageProbe probe;
    std::atomic<int> inner{0};
    parallel_for(8, 2, [&](size_t) {
      CHECK(ThreadScope::current() == 2);  // inside a task: the loop's threads, shared with nested loops
      parallel_for(50, 8, [&](size_t) {
        ++inner;
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      });
    });
    CHECK(inner == 400);
    CHECK(probe.threads() <= 2);  // the nested loops asked for 8 each and shared the outer loop's 2
  }
  CHECK_THROWS_WITH(parallel_for(100, 3,
                                 [&](size_t i) {
                                   if (i == 17 || i == 60) throw std::runtime_error("row " + std::to_string(i));
                                 }),
                    "row 17");
  {
    ThreadScope outer(4);
    CHECK(ThreadScope::current() == 4);
    {
      ThreadScope inner(1);
      CHECK(ThreadScope::current() == 1);
    }
    CHECK(ThreadScope::current() == 4);
  }
}

TEST_CASE("parallel_for: a nested loop never takes more threads than it asked for, even with idle helpers") {
  // An 8-thread loop whose other tasks end at once leaves 7 helpers idle while one task runs a
  // 2-thread loop: that loop must still run on at most 2 threads.
  std::mutex m;
  std::set<std::thread::id> inner_threads;
  parallel_for(8, 8, [&](size_t i) {
    if (i != 0) return;
    parallel_for(200, 2, [&](size_t) {
      {
        std::lock_guard<std::mutex> lock(m);
        inner_threads.insert(std::this_thread::get_id());
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    });
  });
  CHECK(inner_threads.size() <= 2);
  CHECK(!inner_threads.empty());
}

TEST_CASE("preprocessing with --threads 1 uses one thread, image decoding included; 2 gives the same data") {
  const std::string dir = std::string(KILN_SOURCE_DIR) + "/tests/data/";
  Config c = load_config(dir + "images.yaml");
  ThreadScope ambient(8);  // whatever the caller's scope, preprocessing uses its own count
  PrepareOptions one;
  one.threads = 1;
  one.quiet = true;
  Prepared a;
  {
    ThreadUsageProbe probe;
    a = prepare_training_data(c, dir + "images_ok.csv", one);
    CHECK(probe.threads() == 1);
  }
  PrepareOptions two = one;
  two.threads = 2;
  Prepared b;
  {
    ThreadUsageProbe probe;
    b = prepare_training_data(c, dir + "images_ok.csv", two);
    CHECK(probe.threads() <= 2);
  }
  REQUIRE(a.data.columns.count("image"));
  CHECK(torch::equal(a.data.columns.at("image"), b.data.columns.at("image")));
}
