#pragma once
// What the monitor records about scored rows, the same for `kiln predict` (one file) and
// `kiln serve` (a window of requests): drift of every input against the training profile, overall
// and per slice, and the distribution of every output's predictions, overall and per slice.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "monitor/monitor_store.h"
#include "pipelines/model_store.h"
#include "slices/drift.h"
#include "slices/slices.h"

namespace kiln {

struct Observation {
  DataDrift overall;                   // rows 0 and no features without a drift reference
  std::map<std::string, double> slice_drift_share;
  std::vector<Measurement> measurements;  // what MonitorStore::append records
  std::string json;                    // drift.json: drift overall, per slice, predictions
};

// The model's drift reference (model/drift_reference.json), or none for a model without one.
std::unique_ptr<DriftReference> load_drift_reference(const std::string& model_path);

// `rows` of `t` were scored, in order, into `logits` (one row each); `slices` holds their
// memberships over the table's rows. Without a reference, only the predictions are summarized.
Observation observe(const LoadedModel& lm, const DriftReference* ref, const Table& t,
                    const std::vector<int64_t>& rows, const SliceSet& slices,
                    const std::map<std::string, torch::Tensor>& logits);

}  // namespace kiln
