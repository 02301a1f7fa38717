// kiln evaluate / predict: load → encode with the saved metadata → forward → postprocess → write.
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

#include <rapidjson/document.h>

#include "features/feature.h"
#include "pipelines/model_store.h"
#include "pipelines/pipelines.h"
#include "pipelines/preprocess.h"
#include "pipelines/report_text.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strings.h"

namespace kiln {
namespace {

std::string output_dir_for(const ScoreOptions& o) {
  return o.output_directory.empty() ? parent_dir(o.model_path) : o.output_directory;
}

void csv_field(std::string& out, const std::string& v) {
  if (v.find_first_of(",\"\n\r") == std::string::npos) {
    out += v;
    return;
  }
  out += '"';
  for (char ch : v) {
    if (ch == '"') out += '"';
    out += ch;
  }
  out += '"';
}

int eval_batch_size(const Config& c, int requested) {
  if (requested > 0) return requested;
  return c.trainer.eval_batch_size.value_or(std::max(c.trainer.batch_size, 512));
}

}  // namespace

std::string format_metrics(const std::string& title, const Evaluation& e) {
  std::ostringstream ss;
  ss << title << " (" << e.rows << " rows)\n";
  for (const auto& [name, m] : e.outputs) {
    ss << "  " << name << ":";
    for (const auto& [metric, v] : m->values()) ss << "  " << metric << " " << format_double(std::round(v * 1e4) / 1e4);
    ss << "\n";
  }
  if (!e.slices.empty()) {
    ss << "slices\n";
    for (const auto& se : e.slices) {
      ss << "  " << se.name << " (" << se.size << " rows)";
      if (se.size < e.min_slice_size) {
        ss << ": below min_slice_size " << e.min_slice_size << "\n";
        continue;
      }
      ss << ":";
      for (const auto& [name, m] : se.outputs) {
        if (se.outputs.size() > 1) ss << "  [" << name << "]";
        for (const auto& [metric, v] : m->values()) {
          if (metric == "loss") continue;
          ss << "  " << metric << " " << format_double(std::round(v * 1e4) / 1e4);
          if (metric == "accuracy" && m->correct() >= 0) {
            auto [lo, hi] = wilson_interval(static_cast<double>(m->correct()), static_cast<double>(m->count()));
            ss << " [" << format_double(std::round(lo * 1e3) / 1e3) << ", "
               << format_double(std::round(hi * 1e3) / 1e3) << "]";
          }
        }
      }
      ss << "\n";
    }
  }
  if (!e.gates.empty()) {
    ss << "gates\n";
    for (const auto& g : e.gates)
      ss << "  " << (g.skipped ? "SKIP" : g.passed ? "PASS" : "FAIL") << "  " << g.gate << "  (value "
         << format_double(std::round(g.value * 1e4) / 1e4) << (g.detail.empty() ? "" : "; " + g.detail)
         << ")\n";
  }
  return ss.str();
}

int run_evaluate(const ScoreOptions& o) {
  static const std::vector<std::string> splits = {"full", "training", "validation", "test"};
  bool ok = false;
  for (const auto& s : splits) ok = ok || s == o.split;
  if (!ok) throw UsageError("--split: unknown split '" + o.split + "'" + suggest(o.split, splits));
  const std::string out_dir = output_dir_for(o);
  check_writable(out_dir);
  LoadedModel lm = load_model(o.model_path);
  torch::set_num_threads(resolve_threads(o.threads, lm.config.trainer.threads));
  ScoringData d = prepare_scoring_data(lm.config, lm.metadata, o.dataset, true, o.split,
                                       resolve_threads(o.threads, lm.config.trainer.threads));
  if (d.rows.size(0) == 0)
    throw DataError(o.dataset + ": no rows in the '" + o.split + "' split to evaluate");
  Evaluation e = evaluate(*lm.model, lm.config, lm.metadata, Batcher(d.columns), d.rows,
                          eval_batch_size(lm.config, o.batch_size), false, true, &d.slices);
  // The training run's statistics anchor max_drop gates.
  const std::string run_dir = parent_dir(o.model_path);
  TrainingStatistics baseline;
  int best_epoch = 0;
  const std::string stats_path = path_join(run_dir, "training_statistics.json");
  const std::string desc_path = path_join(run_dir, "description.json");
  if (file_exists(stats_path) && file_exists(desc_path)) {
    baseline = TrainingStatistics::from_json(read_file(stats_path));
    rapidjson::Document d;
    std::string text = read_file(desc_path);
    d.Parse(text.c_str(), text.size());
    if (!d.HasParseError() && d.IsObject() && d.HasMember("best_epoch") && d["best_epoch"].IsInt())
      best_epoch = d["best_epoch"].GetInt();
  }
  e.gates = check_gates(lm.config, e, best_epoch > 0 ? &baseline : nullptr, best_epoch);
  make_dirs(out_dir);
  const std::string path = path_join(out_dir, "test_statistics.json");
  write_file_atomic(path, evaluation_to_json(e));
  std::cout << format_metrics(o.split, e);
  if (!o.quiet) std::cerr << "kiln: wrote " << path << "\n";
  bool failed = false;
  for (const auto& g : e.gates) failed = failed || !g.passed;
  if (failed && o.fail_on_gate) {
    std::cerr << "error: quality gate failed (see above); exiting with status 5 (--fail_on_gate)\n";
    return 5;
  }
  return 0;
}

int run_predict(const ScoreOptions& o) {
  const std::string out_dir = output_dir_for(o);
  check_writable(out_dir);
  LoadedModel lm = load_model(o.model_path);
  const int threads = resolve_threads(o.threads, lm.config.trainer.threads);
  torch::set_num_threads(threads);
  ScoringData d = prepare_scoring_data(lm.config, lm.metadata, o.dataset, false, "full", threads);
  Evaluation e = evaluate(*lm.model, lm.config, lm.metadata, Batcher(d.columns), d.rows,
                          eval_batch_size(lm.config, o.batch_size), true, false);
  std::vector<PredictionColumn> cols;
  for (const auto& f : lm.config.output_features) {
    auto part = feature_kind(f.type).predictions(f, lm.metadata.at(f.name), e.logits.at(f.name));
    for (auto& p : part) cols.push_back(std::move(p));
  }
  std::string text;
  for (size_t i = 0; i < cols.size(); ++i) {
    if (i) text += ',';
    csv_field(text, cols[i].name);
  }
  text += '\n';
  const size_t n = cols.empty() ? 0 : cols[0].values.size();
  for (size_t r = 0; r < n; ++r) {
    for (size_t i = 0; i < cols.size(); ++i) {
      if (i) text += ',';
      csv_field(text, cols[i].values[r]);
    }
    text += '\n';
  }
  make_dirs(out_dir);
  const std::string path = path_join(out_dir, "predictions.csv");
  write_file_atomic(path, text);
  if (!o.quiet) std::cerr << "kiln: wrote " << n << " predictions to " << path << "\n";
  return 0;
}

}  // namespace kiln
