#pragma once
// The study's HTML report (<out>/reports/hyperopt_report.html), one self-contained file:
// leaderboard, best score against study time, parallel coordinates of the parameters, each
// parameter's importance (the share of the metric's variance its values explain) and the
// re-ranking of the best trials on folds.
#include <string>
#include <vector>

#include "automl/rerank.h"
#include "automl/search_space.h"
#include "automl/trial_store.h"

namespace kiln {

std::string hyperopt_report_html(const HyperoptSpec& h, const std::vector<TrialRecord>& trials,
                                 int64_t best_id, double budget_s, double elapsed_s, const RerankResult& rerank);

// Importance of each parameter in [0, 1] (correlation ratio: between-group variance of the
// metric over its total variance, numeric values grouped into quartiles), summing to 1 when any
// parameter explains anything. Trials without a metric are left out.
std::vector<double> parameter_importance(const HyperoptSpec& h, const std::vector<TrialRecord>& trials);

}  // namespace kiln
