#pragma once
// The study's trial store: an SQLite file in the output directory (<out>/hyperopt.sqlite),
// written only by the coordinating process (workers report through pipes), so parallel trials
// never contend for the database lock. A study killed at any moment resumes from it.
//
// Schema:
//   study(key TEXT PRIMARY KEY, value TEXT)    config_hash, spec, elapsed_s, ...
//   trials(trial_id INTEGER PRIMARY KEY, params TEXT (JSON object path -> value),
//          internal TEXT (JSON array: the sampler's coordinates), status TEXT
//          (running | completed | pruned | stopped | failed), metric REAL (best epoch's value),
//          best_epoch INTEGER, epochs INTEGER, started_s REAL, seconds REAL (study clock), error TEXT)
//   epochs(trial_id INTEGER, epoch INTEGER, value REAL, at_s REAL, PRIMARY KEY(trial_id, epoch))
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;

namespace kiln {

// A trial's state, stored as its name.
enum class TrialStatus { running, completed, pruned, stopped, failed };
const char* to_string(TrialStatus s);
std::optional<TrialStatus> parse_trial_status(std::string_view name);

struct TrialRecord {
  int64_t id = 0;
  std::string params_json;       // {"trainer.learning_rate": 0.001, ...}
  std::vector<double> internal;  // sampler coordinates
  TrialStatus status = TrialStatus::running;
  double metric = std::numeric_limits<double>::quiet_NaN();
  int best_epoch = 0, epochs = 0;
  double started_s = 0, seconds = 0;
  std::string error;
  std::vector<double> curve;     // validation metric per epoch
  std::vector<double> curve_at;  // study time of each epoch's report
};

class TrialStore {
 public:
  explicit TrialStore(const std::string& path);  // creates the file and schema if needed
  ~TrialStore();
  TrialStore(const TrialStore&) = delete;
  TrialStore& operator=(const TrialStore&) = delete;
  std::string get(const std::string& key) const;  // "" when absent
  void put(const std::string& key, const std::string& value);
  void save(const TrialRecord& r);  // insert or replace the trial row (not its epochs)
  void add_epoch(int64_t trial, int epoch, double value, double at_s);
  std::vector<TrialRecord> load() const;  // every trial with its epochs, by id

 private:
  void exec(const std::string& sql) const;
  std::string path_;
  ::sqlite3* db_ = nullptr;
};

}  // namespace kiln
