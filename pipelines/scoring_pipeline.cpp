// kiln evaluate / predict: load → encode with the saved metadata → forward → postprocess → write.
#include "util/json.h"  // first: configures RapidJSON
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <algorithm>
#include <sstream>

#include <rapidjson/document.h>

#include "features/feature.h"
#include "monitor/monitor_store.h"
#include "slices/drift.h"
#include "pipelines/model_store.h"
#include "pipelines/observe.h"
#include "pipelines/scorer.h"
#include "pipelines/pipelines.h"
#include "pipelines/preprocess.h"
#include "pipelines/report_text.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/parallel.h"
#include "util/strings.h"

namespace kiln {
namespace {

std::string output_dir_for(const ScoreOptions& o) {
  return o.output_directory.empty() ? parent_dir(o.model_path) : o.output_directory;
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
  const ThreadScope thread_scope(resolve_threads(o.threads, lm.config.trainer.threads));
  ScoringData d = prepare_scoring_data(lm.config, lm.metadata, o.dataset, true, o.split,
                                       resolve_threads(o.threads, lm.config.trainer.threads));
  if (d.rows.size(0) == 0)
    throw DataError(o.dataset + ": no rows in the '" + o.split + "' split to evaluate");
  Evaluation e = evaluate(*lm.model, lm.config, lm.metadata, Batcher(d.columns, d.lazy), d.rows,
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
  const DirLock lock(out_dir);  // or throws: another Kiln run writes here
  const std::string path = path_join(out_dir, "test_statistics.json");
  write_file_atomic(path, evaluation_to_json(e));
  std::cout << format_metrics(o.split, e);
  if (!o.quiet) std::cerr << "kiln: wrote " << path << "\n";
  std::vector<Measurement> ms;
  for (const auto& [name, m] : e.outputs)
    for (const auto& [metric, v] : m->values()) ms.push_back({"", name, metric, v});
  for (const auto& se : e.slices)
    if (se.size >= e.min_slice_size)
      for (const auto& [name, m] : se.outputs)
        for (const auto& [metric, v] : m->values()) ms.push_back({se.name, name, metric, v});
  MonitorStore(path_join(o.model_path, "monitor.sqlite"))
      .append("evaluate --split " + o.split, o.dataset, e.rows, ms);
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
  Batching batching;
  batching.max_rows = 1;  // one caller: no micro-batching thread
  batching.batch_size = o.batch_size;
  const Scorer scorer(o.model_path, o.threads, batching);
  const LoadedModel& lm = scorer.model();
  torch::set_num_threads(scorer.threads());
  Scored s = scorer.score_file(o.dataset);
  const size_t n = s.rows();
  std::vector<std::string> names;
  std::vector<const std::vector<std::string>*> values;
  for (const auto& c : s.columns) names.push_back(c.name), values.push_back(&c.values);
  const std::string text = csv_text(names, values, n);
  make_dirs(out_dir);
  const DirLock lock(out_dir);  // or throws: another Kiln run writes here
  const std::string path = path_join(out_dir, "predictions.csv");
  write_file_atomic(path, text);
  if (!o.quiet) std::cerr << "kiln: wrote " << n << " predictions to " << path << "\n";

  // Drift against the training profile (overall and per slice) and prediction distributions.
  const auto ref = load_drift_reference(o.model_path);
  if (!ref) return 0;
  const auto& d = s.data;
  std::vector<int64_t> all(d.rows.data_ptr<int64_t>(), d.rows.data_ptr<int64_t>() + d.rows.size(0));
  const Observation seen = observe(lm, ref.get(), *d.table, all, d.slices, s.logits);
  write_file_atomic(path_join(out_dir, "drift.json"), seen.json);
  const DataDrift& overall = seen.overall;
  int alerts = 0, warnings = 0;
  for (const auto& f : overall.features) alerts += f.status == "alert", warnings += f.status == "warning";
  std::cout << "drift: " << alerts << " of " << overall.features.size() << " features in alert, "
            << warnings << " in warning (share " << format_double(std::round(overall.drift_share * 1e3) / 1e3)
            << ")\n";
  auto sorted = overall.features;
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.psi > b.psi; });
  for (size_t i = 0; i < sorted.size() && i < 5; ++i)
    if (sorted[i].status != "ok")
      std::cout << "  " << sorted[i].status << "  " << sorted[i].name << "  psi "
                << format_double(std::round(sorted[i].psi * 1e4) / 1e4) << "\n";
  MonitorStore(path_join(o.model_path, "monitor.sqlite")).append("predict", o.dataset, static_cast<int64_t>(n), seen.measurements);
  return 0;
}

}  // namespace kiln
