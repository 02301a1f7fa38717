#include "util/fs.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
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

void write_atomic_with(const std::string& path,
                       const std::function<void(const std::string&)>& write) {
  std::string tmp = tmp_name(path);
  try {
    write(tmp);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
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
