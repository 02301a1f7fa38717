#pragma once
// Data drift between the training data and new data, per input feature, overall and per slice:
// PSI and KS for numbers; PSI, chi-square, Jensen-Shannon distance and unseen-value rate for
// categories and binaries; missing-rate change for every feature; the share of drifted features.
// The training side is a compact profile (quantile bins, value frequencies, 200 quantiles for
// KS) saved with the model (model/drift_reference.json), so predict never needs the training data.
#include <map>
#include <string>
#include <vector>

#include "config/config.h"
#include "data/table.h"
#include "util/json.h"

namespace kiln {

struct FeatureProfile {
  std::string name, type;
  int64_t rows = 0, missing = 0;
  std::vector<double> edges;          // number: inner bin edges (training deciles)
  std::vector<double> quantiles;      // number: 201 training quantiles, for KS
  std::vector<std::string> values;    // category/binary: the training values tracked
  std::vector<int64_t> counts;        // per bin / per value, then one "other" (unseen) bucket
  std::vector<double> sorted_sample;  // new data only: sorted numbers, for KS
};

struct DataProfile {
  int64_t rows = 0;
  std::vector<FeatureProfile> features;
};

struct DriftReference {
  DataProfile overall;
  std::map<std::string, DataProfile> slices;
};

struct DriftThresholds {
  double psi_warning = 0.1, psi_alert = 0.25;
};

struct FeatureDrift {
  std::string name, type;
  double psi = 0, ks = -1, chi_square = -1, js_distance = -1, unseen_rate = 0;
  double missing_rate_reference = 0, missing_rate = 0;
  std::string status;  // ok | warning | alert
};

struct DataDrift {
  int64_t rows = 0;
  std::vector<FeatureDrift> features;
  double drift_share = 0;  // share of features in alert
};

// Profiles the input features over `rows` of the table. With a reference, the same bins and
// values are used (new data); without, they are fitted here (training data).
DataProfile profile_data(const Config& c, const Table& t, const std::vector<int64_t>& rows,
                         const DataProfile* reference);
DataDrift compare_profiles(const DataProfile& reference, const DataProfile& now,
                           const DriftThresholds& th);

// Writes rows, drift_share and the per-feature scores as members of the current JSON object.
void write_drift_json(JsonWriter& w, const DataDrift& d);

std::string drift_reference_to_json(const DriftReference& r);
DriftReference drift_reference_from_json(const std::string& text, const std::string& source);

}  // namespace kiln
