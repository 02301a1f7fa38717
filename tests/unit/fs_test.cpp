#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "util/error.h"
#include "util/fs.h"
#include "util/lru_cache.h"

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
