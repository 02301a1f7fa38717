#pragma once
// File helpers. Every output file is written to "<name>.tmp.<pid>" and renamed into place, so a
// killed process never leaves a half-written file behind.
#include <cstdint>
#include <functional>
#include <string>

namespace kiln {

std::string read_file(const std::string& path);  // throws DataError if unreadable
void write_file_atomic(const std::string& path, const std::string& content);
// Calls write(tmp_path), flushes it to disk, then renames tmp_path to path; removes tmp_path on
// failure. Test hook: KILN_TEST_KILL_IN_WRITE=<file name>:<n> kills the process (SIGKILL) at the
// n-th write of a file of that name, the temporary complete and not yet renamed.
void write_atomic_with(const std::string& path, const std::function<void(const std::string&)>& write);
// Creates the directory (and parents); throws ModelError naming it if that fails or it is not
// writable.
void make_dirs(const std::string& dir);
bool file_exists(const std::string& path);
// Removes the "<name>.tmp.<pid>" files (and their SQLite companions) in `dir`, not below it: the
// temporaries of killed runs. Only for a caller holding the directory's DirLock (or of a
// directory under one), since then no other Kiln run can be writing them.
void remove_stale_temporaries(const std::string& dir);

// An advisory lock (flock) on "<dir>/.kiln.lock", held while the object lives and released by the
// kernel when the process dies, even by kill -9. While it is held no other Kiln process writes
// into `dir`, and temporaries found there are stale. The constructor throws ModelError naming
// `dir` (and the holder's pid) when another process holds it; nested locks of one directory in
// one process are both held.
class DirLock {
 public:
  explicit DirLock(const std::string& dir);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  std::string key_;
  int fd_ = -1;
};
std::string parent_dir(const std::string& path);
std::string path_join(const std::string& a, const std::string& b);

// 64-bit content hash (FNV-1a over 8-byte words; stable across builds and machines).
uint64_t hash_bytes(const void* data, size_t n, uint64_t seed = 1469598103934665603ull);
std::string hex64(uint64_t v);

}  // namespace kiln
