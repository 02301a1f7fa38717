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
#include "slices/slices.h"
#include "train/batcher.h"

namespace kiln {

struct Dataset {
  Batch columns;  // every encoded feature column, one entry per table row
  LazyColumns lazy;  // columns loaded per batch (FeatureKind::lazy)
  torch::Tensor train, validation, test;  // row indices (int64)
  SliceSet slices;                        // membership over the same rows
};

struct SliceEvaluation {
  std::string name;
  int64_t size = 0;
  std::map<std::string, std::unique_ptr<OutputMetrics>> outputs;
};

struct Evaluation {
  std::map<std::string, std::unique_ptr<OutputMetrics>> outputs;
  std::vector<SliceEvaluation> slices;  // in definition order
  int min_slice_size = 0;
  double combined_loss = 0;
  std::vector<GateResult> gates;                // filled by check_gates
  std::map<std::string, torch::Tensor> logits;  // filled when asked for
  int64_t rows = 0;
};

// needs_targets=false: only logits (predict). The model is put in eval mode and back.
// With `slices`, every slice's metrics are accumulated in the same pass.
Evaluation evaluate(EcdModel& model, const Config& c, const MetadataMap& m, const Batcher& batcher,
                    const torch::Tensor& rows, int batch_size, bool keep_logits,
                    bool needs_targets = true, const SliceSet* slices = nullptr);

// Metric direction: true if larger is better.
bool higher_is_better(const std::string& metric);

// split → field (output name or "combined") → metric → one value per evaluation.
struct TrainingStatistics {
  using Series = std::map<std::string, std::map<std::string, std::vector<double>>>;  // field→metric
  std::map<std::string, Series> splits;
  // split → slice → output → metric → one value per evaluation; and each slice's size per split.
  std::map<std::string, std::map<std::string, Series>> slices;
  std::map<std::string, std::map<std::string, int64_t>> slice_sizes;
  void append(const std::string& split, const Evaluation& e);
  std::string to_json() const;
  static TrainingStatistics from_json(const std::string& text);
};

// Checks the config's slices.gates against an evaluation. `baseline` (training statistics of the
// model, test split at `best_epoch`) anchors max_drop gates; without it they are skipped.
std::vector<GateResult> check_gates(const Config& c, const Evaluation& e,
                                    const TrainingStatistics* baseline, int best_epoch);

// test_statistics.json: output → metric → value (+ confusion matrix, per-class stats), and
// "combined": {"loss": ...}.
std::string evaluation_to_json(const Evaluation& e);

}  // namespace kiln
