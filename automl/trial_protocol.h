#pragma once
// The line protocol between the hyperopt coordinator and its trial workers (`kiln _trial --serve`),
// defined here only: one formatter and one parser per direction, each the other's inverse.
//
// coordinator -> worker, one trial per line (stdin):
//   <config>\t<output_directory>\t<deadline_ms>\t<resume 0|1>[\t<folds>:<fold>:<seed>]
//   (the last field only for a re-ranking run on one fold)
// worker -> coordinator, about the trial it runs (stdout):
//   epoch <n> <value|nan> <eval_seconds>
//   end <epochs> <best_epoch> <best_value|nan> <interrupted 0|1> <seconds>
//   failed                          (the error is in <output_directory>/train.log)
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

namespace kiln {

struct TrialCommand {
  std::string config_path, output_directory;
  int64_t deadline_ms = 0;  // steady clock, shared by the processes; 0: none
  bool resume = false;
  int cv_folds = 0, cv_fold = 0;  // cv_folds > 0: a re-ranking run on fold cv_fold
  uint64_t cv_seed = 0;
};

struct EpochReport {
  int epoch = 0;
  double value = 0;  // NaN when the metric could not be computed
  double eval_seconds = 0;
};
struct EndReport {
  int epochs = 0, best_epoch = 0;
  double best_value = 0;  // NaN when no epoch had a finite value
  bool interrupted = false;
  double seconds = 0;
};
struct FailedReport {};
using WorkerReport = std::variant<EpochReport, EndReport, FailedReport>;

// One line, ending in '\n'. Throws ModelError for a path holding a tab or a line break, which
// the line format cannot carry.
std::string format_command(const TrialCommand& c);
// nullopt for a line that is not a command (wrong field count, bad numbers).
std::optional<TrialCommand> parse_command(const std::string& line);

std::string format_report(const WorkerReport& r);  // one line, ending in '\n'
// nullopt for anything else a worker might print on stdout.
std::optional<WorkerReport> parse_report(const std::string& line);

}  // namespace kiln
