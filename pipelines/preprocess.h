#pragma once
// read → drop rows → split → fit (training split only) → encode, with a cache of the result keyed
// by the dataset's CONTENT and the preprocessing config.
#include <string>

#include "config/config.h"
#include "data/table.h"
#include "features/metadata.h"
#include "slices/drift.h"
#include "train/evaluate.h"

namespace kiln {

struct Prepared {
  MetadataMap metadata;
  Dataset data;
  int64_t rows = 0, dropped_rows = 0;
  uint64_t dataset_hash = 0;
  std::string drift_reference;  // JSON profile of the training split (slices/drift.h)
  bool from_cache = false;
  std::string cache_path;
  double seconds = 0;
};

struct PrepareOptions {
  int threads = 1;
  std::string cache_dir;  // empty: no cache
  bool quiet = false;
  // Keep the result in this process and hand it out again for the same file (path, size,
  // modification time) and preprocessing config: hyperopt workers run many trials on one dataset.
  // At most kKeptPreparedVariants results are kept, the least recently used forgotten.
  bool keep_in_memory = false;
};
constexpr size_t kKeptPreparedVariants = 3;

Prepared prepare_training_data(const Config& c, const std::string& dataset,
                               const PrepareOptions& o);

// Scoring: encodes a table with saved metadata. With targets, rows missing an output value are
// dropped (their indices are left out of `rows`).
struct ScoringData {
  Batch columns;
  LazyColumns lazy;  // columns loaded per batch (FeatureKind::lazy)
  SliceSet slices;  // evaluate; predict when the slice columns are present
  torch::Tensor rows;  // rows to score
  std::shared_ptr<Table> table;
};
ScoringData prepare_scoring_data(const Config& c, const MetadataMap& m, const std::string& dataset,
                                 bool with_targets, const std::string& split, int threads);
// The same for a table already in memory (a served request); it must hold the columns needed.
ScoringData prepare_scoring_data(const Config& c, const MetadataMap& m, std::shared_ptr<Table> table,
                                 bool with_targets, const std::string& split, int threads);
// The columns a table must hold to be scored (inputs; with targets, the outputs too).
std::vector<std::string> scoring_columns(const Config& c, bool with_targets);

// Profiles of the input features over (a sample of) `rows`, overall and per slice: the training
// side of drift (saved as model/drift_reference.json).
DriftReference drift_reference(const Config& c, const Table& t, const std::vector<int64_t>& rows,
                               const SliceSet& slices);

// $KILN_CACHE_DIR, else $XDG_CACHE_HOME/kiln, else ~/.cache/kiln.
std::string default_cache_dir();

}  // namespace kiln
