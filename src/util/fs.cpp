#include "util/fs.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

#include "util/error.h"

namespace fs = std::filesystem;

namespace kiln {

std::string read_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw DataError(path + ": cannot open file: " + std::strerror(errno));
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec || fs::is_directory(path)) {
    std::fclose(f);
    throw DataError(path + ": cannot read file: not a regular file");
  }
  std::string out(static_cast<size_t>(size), '\0');
  size_t got = out.empty() ? 0 : std::fread(out.data(), 1, out.size(), f);
  std::fclose(f);
  if (got != out.size()) throw DataError(path + ": cannot read file: " + std::strerror(errno));
  return out;
}

static std::string tmp_name(const std::string& path) {
  return path + ".tmp." + std::to_string(::getpid());
}

// Why a write into `dir` failed, when the file system says so: the writers underneath (torch's
// archive writer, say) report only that a write failed.
static std::string full_reason(const std::string& dir) {
  struct statvfs st;
  if (::statvfs(dir.c_str(), &st) == 0 && st.f_bavail == 0) return std::strerror(ENOSPC);
  return "";
}

// Test hook: KILN_TEST_KILL_IN_WRITE=<file name>:<n> kills the process (SIGKILL) at the n-th write
// of a file of that name, with the temporary file complete and not yet renamed, so the crash
// tests hit the moment of a checkpoint write exactly.
static void test_kill_point(const std::string& path) {
  static const char* spec = std::getenv("KILN_TEST_KILL_IN_WRITE");
  static int count = 0;
  if (!spec) return;
  const std::string s = spec;
  const size_t colon = s.rfind(':');
  if (colon == std::string::npos || fs::path(path).filename().string() != s.substr(0, colon)) return;
  if (++count == std::atoi(s.c_str() + colon + 1)) ::kill(::getpid(), SIGKILL);
}

void write_atomic_with(const std::string& path,
                       const std::function<void(const std::string&)>& write) {
  std::string tmp = tmp_name(path);
  try {
    write(tmp);
  } catch (const KilnError&) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  } catch (const std::exception& e) {  // e.g. torch's archive writer on a full disk
    std::error_code ec;
    fs::remove(tmp, ec);
    std::string why = full_reason(parent_dir(path));
    if (why.empty()) {
      why = e.what();
      why = why.substr(0, why.find('\n'));
    }
    throw ModelError(path + ": cannot write file: " + why);
  }
  // The content reaches the disk before the name does, and the rename before we return: after a
  // power loss the file is the old one or the new one, never a new name over missing blocks.
  // fsync is also where some file systems (NFS, ext4's delayed allocation) report a full disk.
  const int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    const int synced = ::fsync(fd) == 0 || errno == EINVAL || errno == EROFS ? 0 : errno;
    ::close(fd);
    if (synced != 0) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw ModelError(path + ": cannot write file: " + std::strerror(synced));
    }
  }
  test_kill_point(path);
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw ModelError(path + ": cannot write file: " + ec.message());
  }
  const int dir = ::open(parent_dir(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    (void)::fsync(dir);  // not every file system syncs directories; the rename stands either way
    ::close(dir);
  }
}

void write_file_atomic(const std::string& path, const std::string& content) {
  write_atomic_with(path, [&](const std::string& tmp) {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw ModelError(path + ": cannot write file: " + std::strerror(errno));
    size_t n = std::fwrite(content.data(), 1, content.size(), f);
    bool ok = n == content.size() && std::fflush(f) == 0;
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) throw ModelError(path + ": cannot write file: " + std::strerror(errno));
  });
}

void make_dirs(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    throw ModelError(dir + ": cannot create directory: " +
                     (ec ? ec.message() : std::string("a file of that name exists")));
  if (::access(dir.c_str(), W_OK) != 0)
    throw ModelError(dir + ": directory is not writable: " + std::strerror(errno));
}

namespace {
// Directories whose lock this process holds, with how many DirLocks hold each: flock conflicts
// between two open files of one process too, and a run may lock a directory an outer step holds.
std::map<std::string, int>& held_locks() {
  static std::map<std::string, int> held;
  return held;
}
std::mutex held_locks_mutex;
}  // namespace

DirLock::DirLock(const std::string& dir) {
  std::error_code ec;
  key_ = fs::weakly_canonical(fs::absolute(dir, ec), ec).string();
  std::lock_guard<std::mutex> guard(held_locks_mutex);
  auto it = held_locks().find(key_);
  if (it != held_locks().end()) {
    ++it->second;
    return;
  }
  const std::string path = path_join(dir, ".kiln.lock");
  fd_ = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  if (fd_ < 0) throw ModelError(path + ": cannot create the directory's lock file: " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {0};
    const long holder = ::pread(fd_, buf, sizeof buf - 1, 0) > 0 ? std::atol(buf) : 0;
    ::close(fd_);
    throw ModelError(dir + ": another Kiln run is writing to this directory" +
                     (holder > 0 ? " (pid " + std::to_string(holder) + ")" : std::string()) +
                     "; wait for it to finish or choose another --output_directory");
  }
  held_locks()[key_] = 1;
  const std::string pid = std::to_string(::getpid()) + "\n";  // for the message of a refused run
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
    // the pid is only informative
  }
}

DirLock::~DirLock() {
  std::lock_guard<std::mutex> guard(held_locks_mutex);
  if (--held_locks()[key_] == 0) held_locks().erase(key_);
  if (fd_ >= 0) ::close(fd_);  // releases the lock (the outermost holder owns the descriptor)
}

void remove_stale_temporaries(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    const size_t at = name.rfind(".tmp.");
    if (at == std::string::npos || at + 5 >= name.size()) continue;
    // "<name>.tmp.<pid>", or an SQLite companion of one ("<name>.tmp.<pid>-wal", "-shm", "-journal")
    std::string pid_text = name.substr(at + 5);
    const size_t digits = pid_text.find_first_not_of("0123456789");
    if (digits != std::string::npos && pid_text[digits] != '-') continue;
    if (digits == 0) continue;
    fs::remove_all(e.path(), ec);
  }
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

std::string parent_dir(const std::string& path) {
  auto p = fs::path(path).parent_path();
  return p.empty() ? "." : p.string();
}

std::string path_join(const std::string& a, const std::string& b) {
  return (fs::path(a) / b).string();
}

uint64_t hash_bytes(const void* data, size_t n, uint64_t h) {
  const auto* p = static_cast<const unsigned char*>(data);
  const uint64_t prime = 1099511628211ull;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * prime;
    h ^= h >> 29;
  }
  for (; i < n; ++i) h = (h ^ p[i]) * prime;
  return h;
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace kiln
