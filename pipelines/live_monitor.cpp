#include "util/json.h"  // first: configures RapidJSON
#include "pipelines/live_monitor.h"

#include <torch/torch.h>

#include <algorithm>
#include <ctime>
#include <iostream>

#include "monitor/monitor_store.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strings.h"

namespace kiln {
namespace {

std::string iso_now() {
  const std::time_t now = std::time(nullptr);
  char when[32];
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return when;
}

}  // namespace

LiveMonitor::LiveMonitor(const Scorer& scorer, LiveMonitorOptions o)
    : scorer_(scorer), o_(std::move(o)), logging_(!o_.log_path.empty()),
      columns_(scorer.request_columns([](const std::string&) { return true; })) {
  ref_ = load_drift_reference(scorer.model_path());
  if (logging_) {
    log_ = std::fopen(o_.log_path.c_str(), "a");
    if (!log_) throw UsageError("--log_predictions: cannot open " + o_.log_path + " for appending");
    std::fseek(log_, 0, SEEK_END);
    log_bytes_ = std::ftell(log_);
  }
  thread_ = std::thread([this] { run(); });
}

LiveMonitor::~LiveMonitor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (log_) std::fclose(log_);
}

void LiveMonitor::record(const Scored& s) {
  const int64_t n = static_cast<int64_t>(s.rows());
  if (n == 0) return;
  const int64_t* rows = s.data.rows.data_ptr<int64_t>();
  if (logging_) log_rows(s);
  // The window keeps the request's table; one holding uploaded files (possibly megabytes of
  // images, which drift does not profile) is replaced by a copy of its other monitored cells.
  std::shared_ptr<const Table> table = s.data.table;
  torch::Tensor scored = s.data.rows;
  bool uploads = false;
  for (const auto& c : table->columns) uploads = uploads || c.holds_bytes;
  if (uploads) {
    TableBuilder b(table->source, columns_, static_cast<size_t>(n));
    add_monitored_cells(b, *table, rows, n);
    table = std::make_shared<const Table>(b.take());
    scored = torch::arange(n, torch::kLong);
  }
  std::lock_guard<std::mutex> lock(mu_);
  Window& w = window_;
  if (w.rows == 0) {
    w.started = iso_now();
    window_start_ = std::chrono::steady_clock::now();
    cv_.notify_all();  // the monitor thread times the window from now
  }
  w.parts.emplace_back(std::move(table), std::move(scored));
  // Slice memberships: a slice this request has no rows in (or no columns for) is 0 for them.
  for (auto& [name, member] : w.slices) member.resize(static_cast<size_t>(w.rows + n), 0);
  for (size_t k = 0; k < s.data.slices.names.size(); ++k) {
    auto& member = w.slices[s.data.slices.names[k]];
    member.resize(static_cast<size_t>(w.rows), 0);
    const bool* m = s.data.slices.membership[static_cast<int64_t>(k)].data_ptr<bool>();
    for (int64_t i = 0; i < n; ++i) member.push_back(m[rows[i]] ? 1 : 0);
  }
  for (const auto& [out, l] : s.logits) w.logits[out].push_back(l.clone());  // not a view of the whole pass
  w.rows += n;
  if (w.rows >= o_.window_rows) cv_.notify_all();
}

void LiveMonitor::log_rows(const Scored& s) {
  const Table& t = *s.data.table;
  const int64_t* rows = s.data.rows.data_ptr<int64_t>();
  const std::string now = iso_now();
  std::string text;
  for (size_t i = 0; i < s.rows(); ++i) {
    rapidjson::StringBuffer sb;
    CompactJsonWriter w(sb);
    w.StartObject();
    json_key(w, "time");
    json_string(w, now);
    for (const auto& c : columns_) {
      const Column* col = t.find(c);
      if (!col) continue;
      json_key(w, c);
      if (Table::missing(*col, static_cast<size_t>(rows[i]))) w.Null();
      else if (col->holds_bytes)
        json_string(w, "(uploaded file, " + std::to_string(col->cells[static_cast<size_t>(rows[i])].length) + " bytes)");
      else json_string(w, std::string(t.cell(*col, static_cast<size_t>(rows[i]))));
    }
    for (const auto& p : s.columns) {
      json_key(w, p.name);
      double x;
      if (p.numeric && parse_double(p.values[i], x)) json_double(w, x);
      else json_string(w, p.values[i]);
    }
    w.EndObject();
    text.append(sb.GetString(), sb.GetSize());
    text += '\n';
  }
  std::lock_guard<std::mutex> lock(log_mu_);
  if (!log_) return;  // a rotation could not reopen the file: logging stopped (said once)
  if (log_bytes_ > 0 && log_bytes_ + static_cast<int64_t>(text.size()) > o_.log_max_bytes) {
    std::fclose(log_);
    for (int k = o_.log_keep - 1; k >= 1; --k)
      std::rename((o_.log_path + "." + std::to_string(k)).c_str(), (o_.log_path + "." + std::to_string(k + 1)).c_str());
    std::rename(o_.log_path.c_str(), (o_.log_path + ".1").c_str());
    log_ = std::fopen(o_.log_path.c_str(), "a");
    log_bytes_ = 0;
    if (!log_) {
      std::cerr << "kiln: --log_predictions: cannot reopen " << o_.log_path << "; logging stops" << std::endl;
      return;
    }
  }
  std::fwrite(text.data(), 1, text.size(), log_);
  std::fflush(log_);
  log_bytes_ += static_cast<int64_t>(text.size());
}

void LiveMonitor::flush() {
  std::unique_lock<std::mutex> lock(mu_);
  const int64_t ticket = ++flush_requested_;
  cv_.notify_all();
  flushed_.wait(lock, [&] { return flush_done_ >= ticket || stop_; });
}

LiveMonitor::Status LiveMonitor::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

void LiveMonitor::run() {
  const auto length = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(o_.window_seconds));
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    const bool asked = stop_ || flush_requested_ > flush_done_;
    if (!asked && window_.rows == 0) {  // nothing open: wait for a first row (or a flush, or the end)
      cv_.wait(lock, [&] { return stop_ || flush_requested_ > flush_done_ || window_.rows > 0; });
      continue;  // the window's clock starts at its first row: read it again
    }
    // A window is open: it closes when full or `window_seconds` after its first row.
    const auto due = window_start_ + length;
    if (!asked && window_.rows < o_.window_rows && std::chrono::steady_clock::now() < due) {
      cv_.wait_until(lock, due, [&] {
        return stop_ || flush_requested_ > flush_done_ || window_.rows >= o_.window_rows;
      });
      if (!(stop_ || flush_requested_ > flush_done_ || window_.rows >= o_.window_rows ||
            std::chrono::steady_clock::now() >= due))
        continue;
    }
    const int64_t ticket = flush_requested_;
    Window w = std::move(window_);
    window_ = Window{};
    const bool stopping = stop_;
    lock.unlock();
    if (w.rows > 0) fold(std::move(w));
    lock.lock();
    flush_done_ = std::max(flush_done_, ticket);
    flushed_.notify_all();
    if (stopping) return;
  }
}

void LiveMonitor::add_monitored_cells(TableBuilder& b, const Table& t, const int64_t* rows, int64_t n) const {
  std::vector<const Column*> cols;
  for (const auto& c : columns_) {
    const Column* col = t.find(c);
    cols.push_back(col && !col->holds_bytes ? col : nullptr);
  }
  std::vector<std::string_view> row(columns_.size());
  for (int64_t i = 0; i < n; ++i) {
    for (size_t c = 0; c < cols.size(); ++c)
      row[c] = cols[c] ? t.cell(*cols[c], static_cast<size_t>(rows[i])) : std::string_view();
    b.add_row(row.data());
  }
}

void LiveMonitor::fold(Window w) {
  try {
    const LoadedModel& lm = scorer_.model();
    // One table of the window's rows. An uploaded file (image) is left out: drift does not profile
    // images, and it may be large.
    TableBuilder b("serve window", columns_, static_cast<size_t>(w.rows));
    for (const auto& [table, scored] : w.parts)
      add_monitored_cells(b, *table, scored.data_ptr<int64_t>(), scored.size(0));
    const Table t = b.take();
    SliceSet slices;
    std::vector<torch::Tensor> masks;
    for (auto& [name, member] : w.slices) {
      member.resize(static_cast<size_t>(w.rows), 0);
      slices.names.push_back(name);
      masks.push_back(torch::from_blob(member.data(), {w.rows}, torch::kUInt8).to(torch::kBool));
    }
    if (!masks.empty()) slices.membership = torch::stack(masks);
    std::map<std::string, torch::Tensor> logits;
    for (auto& [out, parts] : w.logits) logits[out] = torch::cat(parts, 0);
    std::vector<int64_t> rows(static_cast<size_t>(w.rows));
    for (int64_t i = 0; i < w.rows; ++i) rows[static_cast<size_t>(i)] = i;
    const Observation seen = observe(lm, ref_.get(), t, rows, slices, logits);
    MonitorStore(path_join(scorer_.model_path(), "monitor.sqlite"))
        .append("serve", "window " + w.started + " to " + iso_now(), w.rows, seen.measurements);
    std::lock_guard<std::mutex> lock(mu_);
    ++status_.windows;
    status_.drift_share = seen.overall.drift_share;
    status_.slice_drift_share = seen.slice_drift_share;
  } catch (const std::exception& e) {
    std::cerr << "kiln: monitor window of " << w.rows << " rows not recorded: " << e.what() << std::endl;
    std::lock_guard<std::mutex> lock(mu_);
    status_.last_error = e.what();
  }
}

}  // namespace kiln
