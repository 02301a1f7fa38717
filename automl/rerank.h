#pragma once
// Re-ranking (HyperoptSpec::rerank): after the search, the best trials train again on the folds of
// the training + validation rows (the same folds for every candidate), each for as many epochs as
// its trial ran; the best mean fold metric picks the model, when at least two candidates finished
// every fold. Small validation splits rank trials by noise; this is the remedy.
#include <cmath>
#include <cstdint>
#include <functional>
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

// Whether the study re-ranks: rerank "on", or "auto" with a validation split of fewer than 2000
// rows (validation_rows < 0: unknown). When not, why_not says why (for the statistics).
bool rerank_enabled(const HyperoptSpec& h, int64_t validation_rows, std::string* why_not);

// The best trials (by validation, at most rerank_top_k) whose remaining folds fit in `seconds`,
// a fold costing what its trial took, spread over `workers`; fewer than two: none. fold_done
// says which folds a resumed study already has.
std::vector<int64_t> plan_rerank(const HyperoptSpec& h, const std::vector<TrialRecord>& trials, int workers,
                                 double seconds, const std::function<bool(int64_t, int)>& fold_done,
                                 double* cost_out = nullptr);

// Sets rr.chosen to the candidate with the best mean over its folds when at least two
// candidates finished every fold; otherwise -1 with the reason in rr.skipped.
void choose_reranked(const HyperoptSpec& h, RerankResult& rr);

// The trial store's key for a finished fold's score.
std::string rerank_fold_key(int64_t id, int fold);

}  // namespace kiln
