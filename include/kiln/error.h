#pragma once
// Typed errors thrown at the boundaries (config, data, model files, usage). The kiln CLI maps each
// to an exit code and prints its one-line message; library code never calls exit(). Part of the
// public API (kiln/kiln.h): an application catches kiln::KilnError, or one of its kinds.
#include <stdexcept>
#include <string>
#include <vector>

namespace kiln {

class KilnError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  virtual int exit_code() const { return 1; }
};

// A bad config file: message starts with "file:line:col: path: ...". Several problems may be
// reported together, one per line.
class ConfigError : public KilnError {
 public:
  using KilnError::KilnError;
  int exit_code() const override { return 2; }
};

// Bad data: message starts with "file:line[:col]: ...".
class DataError : public KilnError {
 public:
  using KilnError::KilnError;
  int exit_code() const override { return 3; }
};

// Missing or corrupt model directory, unwritable output.
class ModelError : public KilnError {
 public:
  using KilnError::KilnError;
  int exit_code() const override { return 4; }
};

class UsageError : public KilnError {
 public:
  using KilnError::KilnError;
  int exit_code() const override { return 64; }
};

}  // namespace kiln
