#include "automl/trial_protocol.h"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <vector>

#include "util/error.h"
#include "util/strings.h"

namespace kiln {
namespace {

bool to_int64(const std::string& s, int64_t& out) { return parse_int(s, out); }

bool to_int(const std::string& s, int& out) {
  int64_t v;
  if (!parse_int(s, v) || v < INT32_MIN || v > INT32_MAX) return false;
  out = static_cast<int>(v);
  return true;
}

// A metric value: a number, or "nan" for none.
std::string value_text(double v) { return std::isfinite(v) ? format_double(v) : "nan"; }
bool parse_value(const std::string& s, double& out) {
  if (s == "nan") return out = std::nan(""), true;
  return parse_double(s, out);
}

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> w;
  for (std::string t; in >> t;) w.push_back(t);
  return w;
}

}  // namespace

std::string format_command(const TrialCommand& c) {
  for (const std::string* p : {&c.config_path, &c.output_directory})
    if (p->find_first_of("\t\n\r") != std::string::npos)
      throw ModelError(*p + ": a trial path cannot hold a tab or a line break (choose another --output_directory)");
  std::string line = c.config_path + "\t" + c.output_directory + "\t" + std::to_string(c.deadline_ms) + "\t" +
                     (c.resume ? "1" : "0");
  if (c.cv_folds > 0)
    line += "\t" + std::to_string(c.cv_folds) + ":" + std::to_string(c.cv_fold) + ":" + std::to_string(c.cv_seed);
  return line + "\n";
}

std::optional<TrialCommand> parse_command(const std::string& line) {
  const std::vector<std::string> f = split(line, '\t');
  if (f.size() != 4 && f.size() != 5) return std::nullopt;
  TrialCommand c;
  c.config_path = f[0];
  c.output_directory = f[1];
  if (c.config_path.empty() || c.output_directory.empty() || !to_int64(f[2], c.deadline_ms)) return std::nullopt;
  if (f[3] != "0" && f[3] != "1") return std::nullopt;
  c.resume = f[3] == "1";
  if (f.size() == 5) {
    const std::vector<std::string> cv = split(f[4], ':');
    if (cv.size() != 3 || !to_int(cv[0], c.cv_folds) || !to_int(cv[1], c.cv_fold) || c.cv_folds < 2 ||
        c.cv_fold < 0 || c.cv_fold >= c.cv_folds)
      return std::nullopt;
    // the seed is any uint64 (random_state may be negative, carried as its two's complement)
    if (cv[2].empty() || cv[2].find_first_not_of("0123456789") != std::string::npos || cv[2].size() > 20)
      return std::nullopt;
    errno = 0;
    char* end = nullptr;
    c.cv_seed = std::strtoull(cv[2].c_str(), &end, 10);
    if (errno == ERANGE) return std::nullopt;
  }
  return c;
}

std::string format_report(const WorkerReport& r) {
  if (auto* e = std::get_if<EpochReport>(&r))
    return "epoch " + std::to_string(e->epoch) + " " + value_text(e->value) + " " + format_double(e->eval_seconds) +
           "\n";
  if (auto* e = std::get_if<EndReport>(&r))
    return "end " + std::to_string(e->epochs) + " " + std::to_string(e->best_epoch) + " " +
           value_text(e->best_value) + " " + (e->interrupted ? "1" : "0") + " " + format_double(e->seconds) + "\n";
  return "failed\n";
}

std::optional<WorkerReport> parse_report(const std::string& line) {
  const std::vector<std::string> w = words(line);
  if (w.empty()) return std::nullopt;
  if (w[0] == "failed" && w.size() == 1) return FailedReport{};
  if (w[0] == "epoch" && w.size() == 4) {
    EpochReport e;
    if (!to_int(w[1], e.epoch) || e.epoch < 1 || !parse_value(w[2], e.value) || !parse_double(w[3], e.eval_seconds))
      return std::nullopt;
    return e;
  }
  if (w[0] == "end" && w.size() == 6) {
    EndReport e;
    if (!to_int(w[1], e.epochs) || !to_int(w[2], e.best_epoch) || !parse_value(w[3], e.best_value) ||
        (w[4] != "0" && w[4] != "1") || !parse_double(w[5], e.seconds))
      return std::nullopt;
    e.interrupted = w[4] == "1";
    return e;
  }
  return std::nullopt;
}

}  // namespace kiln
