#include "automl/trial_store.h"

#include <sqlite3.h>

#include <cmath>
#include <map>

#include "util/error.h"
#include "util/strings.h"

namespace kiln {
namespace {

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql, const std::string& path) : db_(db), path_(path) {
    if (sqlite3_prepare_v2(db, sql, -1, &st_, nullptr) != SQLITE_OK) fail();
  }
  ~Stmt() { sqlite3_finalize(st_); }
  Stmt& bind(int i, const std::string& s) {
    sqlite3_bind_text(st_, i, s.c_str(), -1, SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(st_, i, v);
    return *this;
  }
  Stmt& bind(int i, double v) {
    if (std::isfinite(v)) sqlite3_bind_double(st_, i, v);
    else sqlite3_bind_null(st_, i);
    return *this;
  }
  bool step() {
    int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) fail();
    return false;
  }
  std::string text(int c) const {
    auto p = sqlite3_column_text(st_, c);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
  int64_t i64(int c) const { return sqlite3_column_int64(st_, c); }
  double real(int c) const {
    return sqlite3_column_type(st_, c) == SQLITE_NULL ? std::nan("") : sqlite3_column_double(st_, c);
  }

 private:
  [[noreturn]] void fail() { throw ModelError(path_ + ": trial store: " + sqlite3_errmsg(db_)); }
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
  std::string path_;
};

std::string doubles_text(const std::vector<double>& v) {
  std::vector<std::string> parts;
  for (double d : v) parts.push_back(format_double(d));
  return "[" + join(parts, ",") + "]";
}

std::vector<double> parse_doubles(const std::string& s) {
  std::vector<double> out;
  std::string cur;
  for (char c : s) {
    if (c == '[' || c == ']' || c == ' ') continue;
    if (c == ',') {
      double d;
      if (parse_double(cur, d)) out.push_back(d);
      cur.clear();
    } else {
      cur += c;
    }
  }
  double d;
  if (!cur.empty() && parse_double(cur, d)) out.push_back(d);
  return out;
}

}  // namespace

TrialStore::TrialStore(const std::string& path) : path_(path) {
  if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw ModelError(path + ": cannot open the trial store: " + msg);
  }
  sqlite3_busy_timeout(db_, 10000);
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=NORMAL");
  exec("CREATE TABLE IF NOT EXISTS study(key TEXT PRIMARY KEY, value TEXT)");
  exec("CREATE TABLE IF NOT EXISTS trials(trial_id INTEGER PRIMARY KEY, params TEXT, internal TEXT, "
       "status TEXT, metric REAL, best_epoch INTEGER, epochs INTEGER, started_s REAL, seconds REAL, "
       "error TEXT)");
  exec("CREATE TABLE IF NOT EXISTS epochs(trial_id INTEGER, epoch INTEGER, value REAL, at_s REAL, "
       "PRIMARY KEY(trial_id, epoch))");
}

TrialStore::~TrialStore() {
  if (db_) sqlite3_close(db_);
}

void TrialStore::exec(const std::string& sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw ModelError(path_ + ": trial store: " + msg);
  }
}

const char* to_string(TrialStatus s) {
  switch (s) {
    case TrialStatus::running: return "running";
    case TrialStatus::completed: return "completed";
    case TrialStatus::pruned: return "pruned";
    case TrialStatus::stopped: return "stopped";
    case TrialStatus::failed: return "failed";
  }
  return "?";
}

std::optional<TrialStatus> parse_trial_status(std::string_view name) {
  for (TrialStatus s : {TrialStatus::running, TrialStatus::completed, TrialStatus::pruned, TrialStatus::stopped,
                        TrialStatus::failed})
    if (name == to_string(s)) return s;
  return std::nullopt;
}

std::string TrialStore::get(const std::string& key) const {
  Stmt s(db_, "SELECT value FROM study WHERE key = ?", path_);
  s.bind(1, key);
  return s.step() ? s.text(0) : "";
}

void TrialStore::put(const std::string& key, const std::string& value) {
  Stmt s(db_, "INSERT OR REPLACE INTO study(key, value) VALUES(?, ?)", path_);
  s.bind(1, key).bind(2, value).step();
}

void TrialStore::save(const TrialRecord& r) {
  Stmt s(db_,
         "INSERT OR REPLACE INTO trials(trial_id, params, internal, status, metric, best_epoch, epochs, "
         "started_s, seconds, error) VALUES(?,?,?,?,?,?,?,?,?,?)",
         path_);
  s.bind(1, r.id).bind(2, r.params_json).bind(3, doubles_text(r.internal)).bind(4, std::string(to_string(r.status)));
  s.bind(5, r.metric).bind(6, int64_t(r.best_epoch)).bind(7, int64_t(r.epochs));
  s.bind(8, r.started_s).bind(9, r.seconds).bind(10, r.error).step();
}

void TrialStore::add_epoch(int64_t trial, int epoch, double value, double at_s) {
  Stmt s(db_, "INSERT OR REPLACE INTO epochs(trial_id, epoch, value, at_s) VALUES(?,?,?,?)", path_);
  s.bind(1, trial).bind(2, int64_t(epoch)).bind(3, value).bind(4, at_s).step();
}

std::vector<TrialRecord> TrialStore::load() const {
  std::vector<TrialRecord> out;
  std::map<int64_t, size_t> at;
  {
    Stmt s(db_,
           "SELECT trial_id, params, internal, status, metric, best_epoch, epochs, started_s, seconds, "
           "error FROM trials ORDER BY trial_id",
           path_);
    while (s.step()) {
      TrialRecord r;
      r.id = s.i64(0);
      r.params_json = s.text(1);
      r.internal = parse_doubles(s.text(2));
      const std::string status = s.text(3);
      auto st = parse_trial_status(status);
      if (!st)
        throw ModelError(path_ + ": trial store: trial " + std::to_string(r.id) + " has an unknown status '" + status +
                         "' (expected running, completed, pruned, stopped or failed)");
      r.status = *st;
      r.metric = s.real(4);
      r.best_epoch = static_cast<int>(s.i64(5));
      r.epochs = static_cast<int>(s.i64(6));
      r.started_s = s.real(7);
      r.seconds = s.real(8);
      r.error = s.text(9);
      at[r.id] = out.size();
      out.push_back(std::move(r));
    }
  }
  Stmt s(db_, "SELECT trial_id, epoch, value, at_s FROM epochs ORDER BY trial_id, epoch", path_);
  while (s.step()) {
    auto it = at.find(s.i64(0));
    if (it == at.end()) continue;
    auto& r = out[it->second];
    size_t e = static_cast<size_t>(s.i64(1));
    if (r.curve.size() < e) r.curve.resize(e, std::nan("")), r.curve_at.resize(e, std::nan(""));
    r.curve[e - 1] = s.real(2);
    r.curve_at[e - 1] = s.real(3);
  }
  return out;
}

}  // namespace kiln
