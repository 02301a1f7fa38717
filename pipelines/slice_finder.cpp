// kiln slices find: per-row errors of a trained model on a dataset, then SliceLine over the raw
// input columns (numbers binned at deciles, categories by value) for the top-k problem slices,
// printed and written as `where:` expressions ready to paste into the config's slices block.
#include "util/json.h"  // first: configures RapidJSON

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <unordered_map>

#include "features/feature.h"
#include "pipelines/model_store.h"
#include "pipelines/pipelines.h"
#include "pipelines/preprocess.h"
#include "slices/sliceline.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/parallel.h"
#include "util/strings.h"

namespace kiln {
namespace {

std::string quote(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string column_ref(const std::string& c) {
  bool plain = !c.empty() && (std::isalpha(static_cast<unsigned char>(c[0])) || c[0] == '_');
  for (char ch : c) plain = plain && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.');
  return plain ? c : "`" + c + "`";
}

// Items over the scored rows (positions 0..m-1 of `rows`).
std::vector<SliceItem> make_items(const Config& c, const Table& t, const std::vector<int64_t>& rows) {
  std::vector<SliceItem> items;
  int feature = 0;
  for (const auto& f : c.input_features) {
    const Column& col = t.get(f.column);
    const std::string name = column_ref(f.column);
    SliceItem missing{feature, name + " is missing", {}};
    if (feature_kind(f.type).distribution() == FeatureKind::Distribution::numeric) {  // quantile bins
      std::vector<double> v;
      std::vector<double> value(rows.size(), std::nan(""));
      for (size_t i = 0; i < rows.size(); ++i) {
        double x;
        if (!Table::missing(col, rows[i]) && parse_double(t.cell(col, rows[i]), x) && !std::isnan(x))
          value[i] = x, v.push_back(x);
        else
          missing.rows.push_back(static_cast<int64_t>(i));
      }
      std::sort(v.begin(), v.end());
      std::vector<double> edges;
      for (int q = 1; q < 10 && !v.empty(); ++q) {
        double e = v[static_cast<size_t>(q * (v.size() - 1) / 10.0)];
        if (e > v.front() && (edges.empty() || e > edges.back())) edges.push_back(e);
      }
      std::vector<SliceItem> bins(edges.size() + 1);
      for (size_t b = 0; b < bins.size(); ++b) {
        bins[b].feature = feature;
        if (b == 0)
          bins[b].label = name + " < " + format_double(edges.empty() ? INFINITY : edges[0]);
        else if (b == edges.size())
          bins[b].label = name + " >= " + format_double(edges[b - 1]);
        else
          bins[b].label = name + " >= " + format_double(edges[b - 1]) + " and " + name + " < " +
                          format_double(edges[b]);
      }
      if (edges.empty()) bins[0].label = name + " is not missing";
      for (size_t i = 0; i < rows.size(); ++i) {
        if (std::isnan(value[i])) continue;
        size_t b = std::upper_bound(edges.begin(), edges.end(), value[i]) - edges.begin();
        bins[b].rows.push_back(static_cast<int64_t>(i));
      }
      for (auto& b : bins) items.push_back(std::move(b));
    } else {
      std::unordered_map<std::string_view, std::vector<int64_t>> by_value;
      for (size_t i = 0; i < rows.size(); ++i) {
        if (Table::missing(col, rows[i]))
          missing.rows.push_back(static_cast<int64_t>(i));
        else
          by_value[t.cell(col, rows[i])].push_back(static_cast<int64_t>(i));
      }
      std::vector<std::pair<std::string_view, std::vector<int64_t>>> sorted(by_value.begin(), by_value.end());
      std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) {
        return a.second.size() != b.second.size() ? a.second.size() > b.second.size() : a.first < b.first;
      });
      if (sorted.size() > 50) sorted.resize(50);
      for (auto& [v, r] : sorted)
        items.push_back({feature, name + " == " + quote(std::string(v)), std::move(r)});
    }
    if (!missing.rows.empty()) items.push_back(std::move(missing));
    ++feature;
  }
  return items;
}

}  // namespace

int run_find_slices(const FindSlicesOptions& o) {
  auto t0 = std::chrono::steady_clock::now();
  LoadedModel lm = load_model(o.model_path);
  const Config& c = lm.config;
  const int threads = resolve_threads(o.threads, c.trainer.threads);
  torch::set_num_threads(threads);
  const ThreadScope thread_scope(threads);
  std::string out_name = o.output_feature.empty() ? c.validation_field() : o.output_feature;
  if (out_name == "combined") out_name = c.output_features[0].name;
  const FeatureConfig* out = c.find_output(out_name);
  if (!out) {
    std::vector<std::string> names;
    for (const auto& f : c.output_features) names.push_back(f.name);
    throw UsageError("--output_feature: '" + out_name + "' is not an output" + suggest(out_name, names));
  }
  const std::string out_path = o.output.empty()
                                   ? path_join(path_join(parent_dir(o.model_path), "reports"), "slices.json")
                                   : o.output;
  check_writable(parent_dir(out_path));
  ScoringData d = prepare_scoring_data(c, lm.metadata, o.dataset, true, "full", threads);
  Evaluation e = evaluate(*lm.model, c, lm.metadata, Batcher(d.columns, d.lazy), d.rows,
                          c.trainer.eval_batch_size.value_or(std::max(c.trainer.batch_size, 512)),
                          true, false);
  // Per-row error, as the output's type defines it (misclassified 0/1, 1 - Jaccard, squared error).
  auto logits = e.logits.at(out->name).to(torch::kFloat64);
  auto target = d.columns.at(out->name).index_select(0, d.rows);
  torch::Tensor err = output_kind(out->type).row_errors(*out, logits, target).contiguous();
  std::vector<double> errors(err.data_ptr<double>(), err.data_ptr<double>() + err.size(0));
  std::vector<int64_t> rows(d.rows.data_ptr<int64_t>(), d.rows.data_ptr<int64_t>() + d.rows.size(0));
  auto items = make_items(c, *d.table, rows);
  SliceLineOptions so;
  so.k = o.k, so.max_level = o.max_level, so.min_support = o.min_support, so.alpha = o.alpha;
  SliceLineResult r = slice_line(items, errors, so);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::cout << "SliceLine on " << rows.size() << " rows, output " << out->name << " (mean error "
            << format_double(std::round(r.mean_error * 1e4) / 1e4) << "), " << items.size()
            << " items, " << r.evaluated << " slices evaluated\n";
  std::cout << "  rank   score    size   error  where\n";
  for (size_t i = 0; i < r.top.size(); ++i) {
    char line[96];
    std::snprintf(line, sizeof line, "  %4zu  %6.3f  %6lld  %6.3f  ", i + 1, r.top[i].score,
                  static_cast<long long>(r.top[i].size), r.top[i].error);
    std::cout << line << r.top[i].where << "\n";
  }
  if (r.top.empty()) std::cout << "  (no slice scores above 0: errors are spread evenly)\n";

  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.SetIndent(' ', 1);
  w.StartObject();
  w.Key("output_feature"), json_string(w, out->name);
  w.Key("rows"), w.Int64(static_cast<int64_t>(rows.size()));
  w.Key("mean_error"), json_double(w, r.mean_error);
  w.Key("alpha"), json_double(w, o.alpha);
  w.Key("min_support"), w.Int64(o.min_support);
  w.Key("max_level"), w.Int(o.max_level);
  w.Key("slices_evaluated"), w.Int64(r.evaluated);
  w.Key("seconds"), json_double(w, secs);
  w.Key("slices");
  w.StartArray();
  for (size_t i = 0; i < r.top.size(); ++i) {
    w.StartObject();
    w.Key("name"), json_string(w, "found_" + std::to_string(i + 1));
    w.Key("where"), json_string(w, r.top[i].where);
    w.Key("size"), w.Int64(r.top[i].size);
    w.Key("error"), json_double(w, r.top[i].error);
    w.Key("score"), json_double(w, r.top[i].score);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  make_dirs(parent_dir(out_path));
  write_file_atomic(out_path, std::string(sb.GetString(), sb.GetSize()) + "\n");
  if (!o.quiet) std::cerr << "kiln: wrote " << out_path << " (" << format_double(std::round(secs * 100) / 100) << "s)\n";
  return 0;
}

}  // namespace kiln
