#include "automl/rerank.h"

#include <algorithm>

#include "automl/study.h"

namespace kiln {

bool rerank_enabled(const HyperoptSpec& h, int64_t validation_rows, std::string* why_not) {
  const bool on = h.rerank == "on" || (h.rerank == "auto" && validation_rows >= 0 && validation_rows < 2000);
  if (!on && why_not)
    *why_not = h.rerank == "off"       ? "off"
               : validation_rows < 0   ? "auto: the validation split's size is not known without the shared preprocessing"
                                       : "auto: the validation split has 2000 rows or more";
  return on;
}

std::vector<int64_t> plan_rerank(const HyperoptSpec& h, const std::vector<TrialRecord>& trials, int workers,
                                 double seconds, const std::function<bool(int64_t, int)>& fold_done,
                                 double* cost_out) {
  std::vector<int64_t> ids;
  double cost = 0;
  for (const TrialRecord* t : ranked(h, trials)) {
    if (static_cast<int>(ids.size()) >= h.rerank_top_k) break;
    if (t->status == TrialStatus::failed || t->status == TrialStatus::running || !std::isfinite(t->metric) ||
        t->epochs < 1)
      continue;
    double c = 0;
    for (int f = 0; f < h.rerank_folds; ++f)
      if (!fold_done(t->id, f)) c += std::max(0.05, t->seconds) / workers;
    if (cost + c > seconds) break;
    cost += c;
    ids.push_back(t->id);
  }
  if (ids.size() < 2) ids.clear();
  if (cost_out) *cost_out = cost;
  return ids;
}

void choose_reranked(const HyperoptSpec& h, RerankResult& rr) {
  int complete = 0;
  rr.chosen = -1;
  for (int64_t id : rr.candidates)
    if (rr.complete(id)) {
      ++complete;
      if (rr.chosen < 0 || better(h, rr.mean(id), rr.mean(rr.chosen))) rr.chosen = id;
    }
  if (complete < 2) {
    rr.chosen = -1;
    if (!rr.candidates.empty()) rr.skipped = "the budget ended before 2 candidates finished every fold";
  }
}

std::string rerank_fold_key(int64_t id, int fold) { return "cv:" + std::to_string(id) + ":" + std::to_string(fold); }

}  // namespace kiln
