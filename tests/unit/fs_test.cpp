#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <filesystem>

#include "util/error.h"
#include "util/fs.h"
#include "util/lru_cache.h"
#include "util/strings.h"

using namespace kiln;

static std::string fresh_dir(const std::string& name) {
  const std::string dir = (std::filesystem::temp_directory_path() /
                           (name + "." + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(dir);
  make_dirs(dir);
  return dir;
}

// Whether another process (flock(1), as a second Kiln run would) gets the lock on `dir`.
static bool other_process_gets_lock(const std::string& dir) {
  return std::system(("flock -n '" + dir + "/.kiln.lock' true").c_str()) == 0;
}

TEST_CASE("DirLock: one process at a time, nested locks of one process, released on destruction") {
  const std::string dir = fresh_dir("kiln_dirlock");
  {
    const DirLock outer(dir);  // held, or it throws
    {
      CHECK_NOTHROW(DirLock(dir + "/."));  // the same directory, spelled differently: nested, held
    }
    CHECK(!other_process_gets_lock(dir));  // still held by `outer` after the inner one ended
    CHECK(read_file(dir + "/.kiln.lock") == std::to_string(::getpid()) + "\n");  // for the refusal's message
  }
  CHECK(other_process_gets_lock(dir));
  std::filesystem::remove_all(dir);
}

TEST_CASE("remove_stale_temporaries removes temporaries and their SQLite companions only") {
  const std::string dir = fresh_dir("kiln_stale");
  for (const char* f : {"weights.pt.tmp.123", "store.sqlite.tmp.77-wal", "keep.csv", "a.tmp.x", "b.tmp."})
    write_file_atomic(dir + "/" + f, "x");
  remove_stale_temporaries(dir);
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(dir)) left.push_back(e.path().filename().string());
  std::sort(left.begin(), left.end());
  CHECK(left == std::vector<std::string>{"a.tmp.x", "b.tmp.", "keep.csv"});
  std::filesystem::remove_all(dir);
}

TEST_CASE("LruCache keeps the most recently used entries up to its capacity") {
  LruCache<std::string, int> c(2);
  c.put("a", 1);
  c.put("b", 2);
  CHECK(c.get("a") == 1);  // a is now the most recent
  c.put("c", 3);           // forgets b
  CHECK(c.size() == 2);
  CHECK(!c.get("b"));
  CHECK(c.get("a") == 1);
  CHECK(c.get("c") == 3);
  c.put("a", 10);  // replaces, no growth
  CHECK(c.size() == 2);
  CHECK(c.get("a") == 10);
  LruCache<std::string, int> none(0);
  none.put("x", 1);
  CHECK(!none.get("x"));
}

// format_double finds its precision from the shortest round-trip form; the definition it must
// keep is the search it replaced: the first of %.6g ... %.17g that reads back as the same double.
TEST_CASE("format_double: the shortest %g (at least 6 digits) that reads back, as before") {
  auto reference = [](double v) {
    char buf[32];
    for (int prec = 6; prec <= 17; ++prec) {
      std::snprintf(buf, sizeof buf, "%.*g", prec, v);
      if (std::strtod(buf, nullptr) == v) break;
    }
    return std::string(buf);
  };
  std::vector<double> values = {0.0, -0.0, 1, -1, 0.1, 1.0 / 3, 2.0 / 3, 1e-5, 1e-300, 5e-324, 1e300, 1.7976931348623157e308,
                                123456, 1234567, 123000, 100000, 1e15, 1e16, 1e17, 0.969051651338918, 0.5, 36.5,
                                -2.5e-7, 9.999999999999999e22, 4.35, 0.000123456789012345};
  for (int e = -1074; e <= 1023; ++e) values.push_back(std::ldexp(1.0, e));  // where double spacing changes
  uint64_t x = 88172645463325252ull;  // xorshift: random bit patterns and random values in [0, 1)
  for (int i = 0; i < 20000; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    double d;
    std::memcpy(&d, &x, sizeof d);
    if (std::isfinite(d)) values.push_back(d);
    values.push_back(static_cast<double>(x >> 11) / 9007199254740992.0);
    values.push_back(static_cast<double>(x % 100000) / 100);
  }
  size_t differ = 0;
  for (double v : values)
    if (kiln::format_double(v) != reference(v) && ++differ <= 5)
      MESSAGE(v << ": " << kiln::format_double(v) << " vs " << reference(v));
  CHECK(differ == 0);
  CHECK(kiln::format_double(std::nan("")) == "nan");
  CHECK(kiln::format_double(-std::numeric_limits<double>::infinity()) == "-inf");
}
