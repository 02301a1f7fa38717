#pragma once
// Writes a torch archive (weights, checkpoints, the preprocessing cache) atomically, with the
// reason when the disk is full. torch's own file writer cannot be used for that: when a write
// fails it throws, and its destructor then throws again while finishing the file, which ends the
// process (std::terminate) instead of reporting the error. Here torch writes through a function
// that never fails towards it; the first failed write is remembered and reported after.
#include <torch/serialize/output-archive.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "util/error.h"
#include "util/fs.h"

namespace kiln {

inline void save_archive(torch::serialize::OutputArchive& ar, const std::string& path) {
  write_atomic_with(path, [&](const std::string& tmp) {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw ModelError(path + ": cannot write file: " + std::strerror(errno));
    int error = 0;
    ar.save_to([&](const void* data, size_t n) -> size_t {
      if (!error && n > 0 && std::fwrite(data, 1, n, f) != n) error = errno ? errno : EIO;
      return n;
    });
    if (!error && std::fflush(f) != 0) error = errno;
    if (std::fclose(f) != 0 && !error) error = errno;
    if (error) throw ModelError(path + ": cannot write file: " + std::strerror(error));
  });
}

}  // namespace kiln
