#pragma once
// The study's HTML report (<out>/reports/hyperopt_report.html), one self-contained file:
// leaderboard, best score against study time, parallel coordinates of the parameters, each
// parameter's importance (the share of the metric's variance its values explain) and the
// re-ranking of the best trials on folds.
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "automl/search_space.h"
#include "automl/trial_store.h"

namespace kiln {

// The re-ranking's outcome (HyperoptSpec::rerank): candidates in validation order, each one's
// metric per fold (NaN: not finished), and the trial chosen (-1: none; the validation best stands).
struct RerankResult {
  int folds = 0;
  std::vector<int64_t> candidates;
  std::map<int64_t, std::vector<double>> scores;
  int64_t chosen = -1;
  std::string skipped;  // why it did not run, when it did not
  int64_t epochs = 0;   // trained in the folds (not counted in the study's trial-epochs)
  bool complete(int64_t id) const {
    auto it = scores.find(id);
    if (it == scores.end()) return false;
    for (double v : it->second)
      if (!std::isfinite(v)) return false;
    return true;
  }
  double mean(int64_t id) const {
    if (!complete(id)) return std::nan("");
    double sum = 0;
    for (double v : scores.at(id)) sum += v;
    return sum / folds;
  }
};

std::string hyperopt_report_html(const HyperoptSpec& h, const std::vector<TrialRecord>& trials,
                                 int64_t best_id, double budget_s, double elapsed_s, const RerankResult& rerank);

// Importance of each parameter in [0, 1] (correlation ratio: between-group variance of the
// metric over its total variance, numeric values grouped into quartiles), summing to 1 when any
// parameter explains anything. Trials without a metric are left out.
std::vector<double> parameter_importance(const HyperoptSpec& h, const std::vector<TrialRecord>& trials);

}  // namespace kiln
