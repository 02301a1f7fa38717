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
#include <fstream>
#include <sstream>

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
void test_kill_point(const std::string& path) {
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
  test_kill_point(path);
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw ModelError(path + ": cannot write file: " + ec.message());
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

// Whether the process `pid` may have written a file last modified at `mtime` (seconds since the
// epoch): it runs, is a process (not a thread of another one: thread ids share the pid space),
// and started before the file was last written. With pids reused quickly (pid_max is 32768 on
// many systems), liveness alone would keep a dead run's file forever.
static bool may_have_written(pid_t pid, double mtime) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  if (!status) return ::kill(pid, 0) == 0 || errno != ESRCH;  // no /proc: ask the kernel
  std::string line;
  bool process = false;
  while (std::getline(status, line))
    if (line.rfind("Tgid:", 0) == 0) process = std::atol(line.c_str() + 5) == pid;
  if (!process) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat"), boot("/proc/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');  // the command name may hold spaces and parentheses
  if (close == std::string::npos) return true;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
  }
  double btime = 0;
  while (std::getline(boot, line))
    if (line.rfind("btime ", 0) == 0) btime = std::atof(line.c_str() + 6);
  if (btime <= 0 || field.empty()) return true;
  const double started = btime + std::atof(field.c_str()) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  return started <= mtime + 1;
}

DirLock::DirLock(const std::string& dir) {
  fd_ = ::open(path_join(dir, ".kiln.lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  held_ = fd_ >= 0 && ::flock(fd_, LOCK_EX | LOCK_NB) == 0;
}

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

void remove_stale_temporaries(const std::string& dir, bool all) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    const size_t at = name.rfind(".tmp.");
    if (at == std::string::npos || at + 5 >= name.size()) continue;
    // "<name>.tmp.<pid>", or an SQLite companion of one ("<name>.tmp.<pid>-wal", "-shm", "-journal")
    std::string pid_text = name.substr(at + 5);
    const size_t digits = pid_text.find_first_not_of("0123456789");
    if (digits != std::string::npos && pid_text[digits] != '-') continue;
    pid_text = pid_text.substr(0, digits);
    if (pid_text.empty() || pid_text.size() > 9) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(pid_text));
    struct stat st;
    if (::stat(e.path().c_str(), &st) != 0) continue;
    if (all || pid == ::getpid() || !may_have_written(pid, static_cast<double>(st.st_mtime)))
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
