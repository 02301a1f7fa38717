#pragma once
// What a hyperopt study writes for its user: leaderboard.csv, hyperopt_statistics.json (Ludwig's
// file, with Kiln's study and re-ranking sections), the leaderboard printed at the end, and the
// best trial's model copied to best_model.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "automl/rerank.h"
#include "automl/study.h"
#include "automl/trial_store.h"

namespace kiln {

std::string leaderboard_csv(const Study& s, const std::vector<TrialRecord>& trials);
std::string statistics_json(const Study& s, const std::vector<TrialRecord>& trials, double elapsed,
                            int workers, int threads_per_trial, int64_t best_id, const RerankResult& rr);
// The best `top` trials as a text table (and a note of how many more leaderboard.csv has).
std::string leaderboard_text(const Study& s, const std::vector<TrialRecord>& trials, size_t top);
// The re-ranking's table printed after the leaderboard ("" when nothing was re-ranked).
std::string rerank_text(const std::vector<TrialRecord>& trials, const RerankResult& rr);
// Copies a trial's model directory (without its checkpoints and monitor store) to `to`, replacing
// it in one rename.
void copy_model(const std::string& from, const std::string& to);

}  // namespace kiln
