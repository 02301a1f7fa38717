#include "monitor/monitor_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <sstream>

#include "util/error.h"
#include "util/strings.h"

namespace kiln {

MonitorStore::MonitorStore(const std::string& path) : path_(path) {
  if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw ModelError(path + ": cannot open the monitor store: " + msg);
  }
  sqlite3_busy_timeout(db_, 10000);
  exec("PRAGMA journal_mode=WAL");
  exec("CREATE TABLE IF NOT EXISTS runs(run_id INTEGER PRIMARY KEY, time TEXT, command TEXT, "
       "dataset TEXT, rows INTEGER)");
  exec("CREATE TABLE IF NOT EXISTS measurements(run_id INTEGER REFERENCES runs(run_id), "
       "slice TEXT, feature TEXT, metric TEXT, value REAL)");
  exec("CREATE INDEX IF NOT EXISTS measurements_key ON measurements(slice, feature, metric)");
}

MonitorStore::~MonitorStore() {
  if (db_) sqlite3_close(db_);
}

void MonitorStore::exec(const std::string& sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw ModelError(path_ + ": monitor store: " + msg);
  }
}

int64_t MonitorStore::append(const std::string& command, const std::string& dataset,
                             int64_t rows, const std::vector<Measurement>& ms) {
  exec("BEGIN IMMEDIATE");
  try {
    std::time_t now = std::time(nullptr);
    char when[32];
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db_, "INSERT INTO runs(time, command, dataset, rows) VALUES(?,?,?,?)", -1,
                       &st, nullptr);
    sqlite3_bind_text(st, 1, when, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, command.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, dataset.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, rows);
    if (sqlite3_step(st) != SQLITE_DONE) {
      sqlite3_finalize(st);
      throw ModelError(path_ + ": monitor store: " + sqlite3_errmsg(db_));
    }
    sqlite3_finalize(st);
    int64_t run = sqlite3_last_insert_rowid(db_);
    sqlite3_prepare_v2(db_,
                       "INSERT INTO measurements(run_id, slice, feature, metric, value) "
                       "VALUES(?,?,?,?,?)",
                       -1, &st, nullptr);
    for (const auto& m : ms) {
      sqlite3_bind_int64(st, 1, run);
      sqlite3_bind_text(st, 2, m.slice.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 3, m.feature.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 4, m.metric.c_str(), -1, SQLITE_TRANSIENT);
      if (std::isfinite(m.value))
        sqlite3_bind_double(st, 5, m.value);
      else
        sqlite3_bind_null(st, 5);
      if (sqlite3_step(st) != SQLITE_DONE) {
        sqlite3_finalize(st);
        throw ModelError(path_ + ": monitor store: " + sqlite3_errmsg(db_));
      }
      sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    exec("COMMIT");
    return run;
  } catch (...) {
    exec("ROLLBACK");
    throw;
  }
}

std::string MonitorStore::trend(int last_runs) const {
  std::ostringstream out;
  sqlite3_stmt* st = nullptr;
  // The last N runs, oldest first.
  std::vector<std::pair<int64_t, std::string>> runs;
  sqlite3_prepare_v2(db_,
                     "SELECT run_id, time || ' ' || command FROM (SELECT * FROM runs ORDER BY "
                     "run_id DESC LIMIT ?) ORDER BY run_id",
                     -1, &st, nullptr);
  sqlite3_bind_int(st, 1, last_runs);
  while (sqlite3_step(st) == SQLITE_ROW)
    runs.emplace_back(sqlite3_column_int64(st, 0),
                      reinterpret_cast<const char*>(sqlite3_column_text(st, 1)));
  sqlite3_finalize(st);
  if (runs.empty()) return "no runs recorded yet (kiln evaluate, predict and serve record them)\n";
  out << "runs:\n";
  for (size_t i = 0; i < runs.size(); ++i) out << "  #" << runs[i].first << "  " << runs[i].second << "\n";
  std::map<std::tuple<std::string, std::string, std::string>, std::map<int64_t, double>> series;
  sqlite3_prepare_v2(db_,
                     "SELECT slice, feature, metric, run_id, value FROM measurements WHERE "
                     "run_id >= ? ORDER BY slice, feature, metric, run_id",
                     -1, &st, nullptr);
  sqlite3_bind_int64(st, 1, runs.front().first);
  while (sqlite3_step(st) == SQLITE_ROW) {
    auto text = [&](int i) { return std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, i))); };
    double v = sqlite3_column_type(st, 4) == SQLITE_NULL ? std::nan("") : sqlite3_column_double(st, 4);
    series[{text(0), text(1), text(2)}][sqlite3_column_int64(st, 3)] = v;
  }
  sqlite3_finalize(st);
  size_t width = 24;
  for (const auto& [key, values] : series) {
    const auto& [slice, feature, metric] = key;
    width = std::max(width, (slice.empty() ? 5 : slice.size()) + feature.size() + metric.size() + 6);
  }
  auto pad = [&](std::string s) {
    s.resize(std::max(s.size(), width), ' ');
    return s;
  };
  out << "\n  " << pad("slice / feature / metric");
  for (const auto& r : runs) {
    char h[32];
    std::snprintf(h, sizeof h, "%10s", ("#" + std::to_string(r.first)).c_str());
    out << h;
  }
  out << "     change\n";
  for (const auto& [key, values] : series) {
    const auto& [slice, feature, metric] = key;
    out << "  " << pad((slice.empty() ? "(all)" : slice) + " / " + feature + " / " + metric);
    double first = std::nan(""), last = std::nan("");
    for (const auto& r : runs) {
      auto it = values.find(r.first);
      char cell[32];
      if (it == values.end() || std::isnan(it->second)) {
        std::snprintf(cell, sizeof cell, "%10s", "-");
      } else {
        std::snprintf(cell, sizeof cell, "%10.4f", it->second);
        if (std::isnan(first)) first = it->second;
        last = it->second;
      }
      out << cell;
    }
    char ch[32];
    std::snprintf(ch, sizeof ch, "  %+9.4f", std::isnan(first) ? 0.0 : last - first);
    out << ch << "\n";
  }
  return out.str();
}

std::vector<MonitorStore::Series> MonitorStore::series(int last_runs) const {
  std::vector<Series> out;
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db_,
                     "SELECT slice, feature, metric, run_id, value FROM measurements WHERE run_id "
                     "IN (SELECT run_id FROM runs ORDER BY run_id DESC LIMIT ?) AND value IS NOT "
                     "NULL ORDER BY slice, feature, metric, run_id",
                     -1, &st, nullptr);
  sqlite3_bind_int(st, 1, last_runs);
  while (sqlite3_step(st) == SQLITE_ROW) {
    auto text = [&](int i) { return std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, i))); };
    std::string slice = text(0), feature = text(1), metric = text(2);
    if (out.empty() || out.back().slice != slice || out.back().feature != feature ||
        out.back().metric != metric)
      out.push_back({slice, feature, metric, {}});
    out.back().points.emplace_back(sqlite3_column_int64(st, 3), sqlite3_column_double(st, 4));
  }
  sqlite3_finalize(st);
  return out;
}

}  // namespace kiln
