#pragma once
// The monitor history: every evaluate and predict run appends its metrics and drift scores,
// overall and per slice, to an SQLite file beside the model (<model>/monitor.sqlite), so
// `kiln monitor` can show each slice's trend across runs.
//
// Schema (one writer at a time; WAL journal):
//   runs(run_id INTEGER PRIMARY KEY, time TEXT, command TEXT, dataset TEXT, rows INTEGER)
//   measurements(run_id INTEGER REFERENCES runs, slice TEXT ('' = all rows), feature TEXT
//                (output for metrics, input for drift), metric TEXT, value REAL)
#include <string>
#include <vector>

struct sqlite3;

namespace kiln {

struct Measurement {
  std::string slice, feature, metric;
  double value;
};

class MonitorStore {
 public:
  explicit MonitorStore(const std::string& path);  // creates the file and schema if needed
  ~MonitorStore();
  MonitorStore(const MonitorStore&) = delete;
  MonitorStore& operator=(const MonitorStore&) = delete;
  // Appends one run with its measurements in one transaction; returns the run id.
  int64_t append(const std::string& command, const std::string& dataset, int64_t rows,
                 const std::vector<Measurement>& m);
  // Text table: one line per (slice, feature, metric) with its values over the last runs.
  std::string trend(int last_runs) const;
  struct Series {
    std::string slice, feature, metric;
    std::vector<std::pair<int64_t, double>> points;  // (run id, value), oldest first
  };
  std::vector<Series> series(int last_runs) const;

 private:
  void exec(const std::string& sql) const;
  std::string path_;
  ::sqlite3* db_ = nullptr;
};

}  // namespace kiln
