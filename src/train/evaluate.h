#pragma once
// Forward passes over a set of rows, feeding every output's metric accumulator.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "features/metadata.h"
#include "metrics/metrics.h"
#include "model/ecd.h"
#include "train/batcher.h"

namespace kiln {

struct Dataset {
  Batch columns;  // every encoded feature column, one entry per table row
  torch::Tensor train, validation, test;  // row indices (int64)
};

struct Evaluation {
  std::map<std::string, std::unique_ptr<OutputMetrics>> outputs;
  double combined_loss = 0;
  std::map<std::string, torch::Tensor> logits;  // filled when asked for
  int64_t rows = 0;
};

// needs_targets=false: only logits (predict). The model is put in eval mode and back.
Evaluation evaluate(EcdModel& model, const Config& c, const MetadataMap& m, const Batcher& batcher,
                    const torch::Tensor& rows, int batch_size, bool keep_logits,
                    bool needs_targets = true);

// Metric direction: true if larger is better.
bool higher_is_better(const std::string& metric);

// split → field (output name or "combined") → metric → one value per evaluation.
struct TrainingStatistics {
  std::map<std::string, std::map<std::string, std::map<std::string, std::vector<double>>>> splits;
  void append(const std::string& split, const Evaluation& e);
  std::string to_json() const;
  static TrainingStatistics from_json(const std::string& text);
};

// test_statistics.json: output → metric → value (+ confusion matrix, per-class stats), and
// "combined": {"loss": ...}.
std::string evaluation_to_json(const Evaluation& e);

}  // namespace kiln
