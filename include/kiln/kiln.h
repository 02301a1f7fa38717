#pragma once
// Kiln's embedding API: load a trained model directory once, score rows in-process.
//
//   #include <kiln/kiln.h>
//   kiln::Model model = kiln::Model::load("results/model");
//   kiln::Predictions p = model.predict({{{"bill_length_mm", "39.1"}, {"island", "Torgersen"}, ...}});
//   std::string species = p.text(0, "species_predictions");
//   double confidence = p.number(0, "species_probability");
//
// The same scoring path as `kiln predict` and `kiln serve` (same preprocessing with the model's
// saved metadata, same forward pass, same prediction columns under Ludwig's names). predict() is
// thread-safe: concurrent calls are gathered into micro-batches. Errors are kiln::KilnError and
// its kinds (kiln/error.h) with the CLI's messages: ModelError for a missing or corrupt model
// directory, DataError for a bad value or a missing input column (naming the row and feature).
//
// Link with find_package(Kiln) and target Kiln::kiln; the header needs no libtorch headers.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kiln/error.h"

namespace kiln {

struct ModelOptions {
  // Forward-pass threads; 0: the model's trainer.threads, else all cores. libtorch's thread count is
  // process-wide: load() sets it, for every model of the process.
  int threads = 0;
  int64_t max_batch_size = 64;     // rows of concurrent predict() calls gathered into one pass (1: none)
  int64_t batch_timeout_us = 500;  // how long a call waits for others to join its pass
};

// One prediction column: `<output>_predictions`, `<output>_probability`,
// `<output>_probabilities_<label>`, ... (as `kiln predict` writes them).
struct PredictionValues {
  std::string name;
  bool numeric = false;               // every value is a number (probabilities, regression)
  std::vector<std::string> text;      // each row's value as kiln predict writes it
  std::vector<double> number;         // each row's value when numeric, else empty
};

class Predictions {
 public:
  Predictions() = default;
  Predictions(size_t rows, std::vector<PredictionValues> columns) : rows_(rows), columns_(std::move(columns)) {}
  size_t rows() const { return rows_; }
  const std::vector<PredictionValues>& columns() const { return columns_; }
  // Throws UsageError naming the column and the columns there are.
  const PredictionValues& column(const std::string& name) const;
  const std::string& text(size_t row, const std::string& column) const;
  double number(size_t row, const std::string& column) const;  // UsageError if not numeric
  std::string to_csv() const;  // kiln predict's predictions.csv

 private:
  size_t rows_ = 0;
  std::vector<PredictionValues> columns_;
};

// A row: input column → value as text ("" or absent optional column: missing).
using Row = std::map<std::string, std::string>;

class Model {
 public:
  // Throws ModelError naming the missing or corrupt file.
  static Model load(const std::string& model_dir, const ModelOptions& options = {});
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  // The columns each row must give (one per input feature), and the output features' names.
  const std::vector<std::string>& input_columns() const;
  std::vector<std::string> output_features() const;
  // The resolved config, as config.yaml in the model directory.
  std::string config_yaml() const;

  Predictions predict(const std::vector<Row>& rows) const;
  // Rows as the text of a CSV (header line first) or of JSON Lines (one object per line).
  Predictions predict_csv(const std::string& csv) const;
  Predictions predict_jsonl(const std::string& jsonl) const;

 private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "0.1.0 (git abc1234)"
std::string version();

}  // namespace kiln
