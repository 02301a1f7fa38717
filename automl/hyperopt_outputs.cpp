#include "automl/hyperopt_outputs.h"

#include "util/json.h"  // first: configures RapidJSON
#include <rapidjson/document.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include "util/strings.h"

namespace kiln {

namespace {

std::vector<std::pair<std::string, std::string>> params_of(const TrialRecord& t) {
  std::vector<std::pair<std::string, std::string>> out;
  rapidjson::Document d;
  d.Parse(t.params_json.c_str());
  if (d.HasParseError() || !d.IsObject()) return out;
  for (auto it = d.MemberBegin(); it != d.MemberEnd(); ++it) {
    std::string v;
    if (it->value.IsNull()) v = "";
    else if (it->value.IsString()) v = it->value.GetString();
    else if (it->value.IsBool()) v = it->value.GetBool() ? "true" : "false";
    else if (it->value.IsInt64()) v = std::to_string(it->value.GetInt64());
    else if (it->value.IsNumber()) v = format_double(it->value.GetDouble());
    out.push_back({it->name.GetString(), v});
  }
  return out;
}

}  // namespace

std::string leaderboard_csv(const Study& s, const std::vector<TrialRecord>& trials) {
  std::ostringstream o;
  o << "rank,trial_id,status," << s.h.metric << ",best_epoch,epochs,seconds";
  for (const auto& p : s.h.parameters) o << "," << csv_field(p.path);
  o << ",error\n";
  int rank = 0;
  for (const TrialRecord* t : ranked(s.h, trials)) {
    o << ++rank << "," << t->id << "," << to_string(t->status) << ","
      << (std::isfinite(t->metric) ? format_double(t->metric) : "") << "," << t->best_epoch << ","
      << t->epochs << "," << format_double(std::round(t->seconds * 100) / 100);
    auto ps = params_of(*t);
    for (const auto& p : s.h.parameters) {
      std::string v;
      for (const auto& [k, val] : ps)
        if (k == p.path) v = val;
      o << "," << csv_field(v);
    }
    o << "," << csv_field(t->error) << "\n";
  }
  return o.str();
}

std::string statistics_json(const Study& s, const std::vector<TrialRecord>& trials, double elapsed,
                            int workers, int threads_per_trial, int64_t best_id, const RerankResult& rr) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.SetIndent(' ', 1);
  w.StartObject();
  w.Key("hyperopt_config");
  w.StartObject();
  w.Key("goal"), json_string(w, s.h.goal);
  w.Key("metric"), json_string(w, s.h.metric);
  w.Key("output_feature"), json_string(w, s.h.output_feature);
  w.Key("split"), json_string(w, s.h.split);
  w.Key("search_alg"), json_string(w, s.h.search_alg);
  w.Key("random_state"), w.Int64(s.h.random_state);
  w.Key("scheduler"), json_string(w, s.h.scheduler);
  if (s.h.scheduler == "asha") {
    w.Key("max_t"), w.Int(s.h.max_t);
    w.Key("grace_period"), w.Int(s.h.grace_period);
    w.Key("reduction_factor"), json_double(w, s.h.reduction_factor);
  }
  w.Key("num_samples"), w.Int64(s.h.num_samples);
  w.Key("time_budget_s"), json_double(w, s.h.time_budget_s);
  w.Key("max_concurrent_trials"), w.Int(workers);
  w.Key("threads_per_trial"), w.Int(threads_per_trial);
  w.Key("parameters");
  w.StartObject();
  for (const auto& p : s.h.parameters) {
    json_key(w, p.path);
    w.StartObject();
    w.Key("space"), json_string(w, p.type_name());
    if (p.categorical()) {
      w.Key(p.type == SpaceType::choice ? "categories" : "values");
      w.StartArray();
      for (const auto& c : p.categories) json_yaml_value(w, c);
      w.EndArray();
    } else if (p.bounded()) {
      w.Key("lower"), json_double(w, p.lower);
      w.Key("upper"), json_double(w, p.upper);
    } else {
      w.Key("mean"), json_double(w, p.mean);
      w.Key("sd"), json_double(w, p.sd);
    }
    if (p.q > 0) w.Key("q"), json_double(w, p.q);
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  std::map<std::string, int> counts;
  int64_t trial_epochs = 0;
  for (const auto& t : trials) ++counts[to_string(t.status)], trial_epochs += t.epochs;
  w.Key("study");
  w.StartObject();
  w.Key("elapsed_s"), json_double(w, elapsed);
  w.Key("trials"), w.Int(static_cast<int>(trials.size()));
  for (const char* st : {"completed", "pruned", "stopped", "failed"}) w.Key(st), w.Int(counts[st]);
  w.Key("trial_epochs"), w.Int64(trial_epochs);
  w.EndObject();
  w.Key("best_trial");
  if (best_id >= 0) w.Int64(best_id); else w.Null();
  w.Key("rerank");
  w.StartObject();
  w.Key("folds"), w.Int(rr.folds);
  w.Key("epochs"), w.Int64(rr.epochs);
  if (!rr.skipped.empty()) w.Key("skipped"), json_string(w, rr.skipped);
  w.Key("candidates");
  w.StartArray();
  for (int64_t id : rr.candidates) {
    w.StartObject();
    w.Key("trial_id"), w.Int64(id);
    for (const auto& t : trials)
      if (t.id == id) w.Key("validation_score"), json_double(w, t.metric);
    w.Key("cv_mean"), json_double(w, rr.mean(id));
    w.Key("cv_folds");
    w.StartArray();
    for (double v : rr.scores.count(id) ? rr.scores.at(id) : std::vector<double>{}) json_double(w, v);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.Key("chosen_trial");
  if (rr.chosen >= 0) w.Int64(rr.chosen); else w.Null();
  w.EndObject();
  w.Key("hyperopt_results");
  w.StartArray();
  for (const TrialRecord* t : ranked(s.h, trials)) {
    w.StartObject();
    w.Key("trial_id"), w.Int64(t->id);
    w.Key("parameters");
    rapidjson::Document d;
    d.Parse(t->params_json.c_str());
    if (!d.HasParseError()) d.Accept(w); else w.Null();
    w.Key("metric_score"), json_double(w, t->metric);
    w.Key("status"), json_string(w, to_string(t->status));
    w.Key("best_epoch"), w.Int(t->best_epoch);
    w.Key("epochs"), w.Int(t->epochs);
    w.Key("started_s"), json_double(w, t->started_s);
    w.Key("seconds"), json_double(w, t->seconds);
    w.Key("metric_per_epoch");
    w.StartArray();
    for (double v : t->curve) json_double(w, v);
    w.EndArray();
    w.Key("reported_at_s");
    w.StartArray();
    for (double v : t->curve_at) json_double(w, v);
    w.EndArray();
    if (!t->error.empty()) w.Key("error"), json_string(w, t->error);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

std::string leaderboard_text(const Study& s, const std::vector<TrialRecord>& trials, size_t top) {
  std::ostringstream o;
  char line[256];
  std::snprintf(line, sizeof line, "%4s %6s %-10s %10s %6s %8s  %s\n", "rank", "trial", "status",
                s.h.metric.substr(0, 10).c_str(), "epochs", "seconds", "parameters");
  o << line;
  size_t rank = 0;
  for (const TrialRecord* t : ranked(s.h, trials)) {
    if (++rank > top) break;
    std::string ps;
    for (const auto& [k, v] : params_of(*t))
      if (!v.empty()) ps += (ps.empty() ? "" : " ") + k + "=" + v;
    std::snprintf(line, sizeof line, "%4zu %6lld %-10s %10s %6d %8.1f  ", rank, (long long)t->id,
                  to_string(t->status), std::isfinite(t->metric) ? format_double(std::round(t->metric * 1e4) / 1e4).c_str() : "-",
                  t->epochs, t->seconds);
    o << line << ps << "\n";
  }
  if (trials.size() > top) o << "  (" << trials.size() - top << " more in leaderboard.csv)\n";
  return o.str();
}

void copy_model(const std::string& from, const std::string& to) {
  namespace fs = std::filesystem;
  const std::string tmp = to + ".tmp." + std::to_string(::getpid());
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  for (const auto& e : fs::directory_iterator(from)) {
    const std::string name = e.path().filename().string();
    if (name == "checkpoints" || name == "monitor.sqlite") continue;
    fs::copy(e.path(), fs::path(tmp) / name, fs::copy_options::recursive);
  }
  fs::remove_all(to);
  fs::rename(tmp, to);
}

std::string rerank_text(const std::vector<TrialRecord>& trials, const RerankResult& rr) {
  if (rr.candidates.empty()) return "";
  std::ostringstream o;
  o << "re-ranked on " << rr.folds << " folds of the training and validation rows:\n";
  char line[160];
  std::snprintf(line, sizeof line, "%6s %12s %12s\n", "trial", "validation", "fold mean");
  o << line;
  for (int64_t id : rr.candidates) {
    double validation = std::nan("");
    for (const auto& t : trials)
      if (t.id == id) validation = t.metric;
    const double m = rr.mean(id);
    std::snprintf(line, sizeof line, "%6lld %12s %12s%s\n", (long long)id,
                  format_double(std::round(validation * 1e4) / 1e4).c_str(),
                  std::isfinite(m) ? format_double(std::round(m * 1e4) / 1e4).c_str() : "-",
                  id == rr.chosen ? "  <- chosen" : "");
    o << line;
  }
  return o.str();
}

}  // namespace kiln
