#include "util/json.h"  // first: configures RapidJSON
#include "train/evaluate.h"

#include <rapidjson/document.h>
#include <torch/torch.h>

#include "features/feature.h"
#include "util/json.h"
#include "util/parallel.h"
#include "util/strings.h"

namespace kiln {

bool higher_is_better(const std::string& m) {
  return !(m == "loss" || m == "mean_squared_error" || m == "mean_absolute_error" ||
           m == "root_mean_squared_error" || m == "perplexity");
}

Evaluation evaluate(EcdModel& model, const Config& c, const MetadataMap& meta,
                    const Batcher& batcher, const torch::Tensor& rows, int batch_size,
                    bool keep_logits, bool needs_targets, const SliceSet* slices) {
  Evaluation e;
  const bool was_training = model.is_training();
  if (was_training) model.eval();  // a walk over every submodule: not on every served request
  torch::NoGradGuard no_grad;
  for (const auto& f : c.output_features)
    if (needs_targets) {
      e.outputs[f.name] = output_kind(f.type).metrics(f, meta.at(f.name));
      e.outputs[f.name]->reserve(rows.size(0));
    }
  const bool with_slices = needs_targets && slices && !slices->empty();
  // Scoring every row in order (predict, evaluate --split full) needs no gathers for slices.
  const bool all_rows = with_slices && rows.size(0) == slices->membership.size(1) &&
                        (rows.size(0) == 0 || (rows[0].item<int64_t>() == 0 &&
                                               rows[-1].item<int64_t>() == rows.size(0) - 1));
  if (with_slices) {
    e.min_slice_size = c.slices ? c.slices->min_slice_size : 0;
    auto sizes = (all_rows ? slices->membership : slices->membership.index_select(1, rows)).sum(1);
    for (size_t s = 0; s < slices->names.size(); ++s) {
      SliceEvaluation se;
      se.name = slices->names[s];
      se.size = sizes[static_cast<int64_t>(s)].item<int64_t>();
      for (const auto& [name, m] : e.outputs) {
        se.outputs[name] = m->empty_copy();
        se.outputs[name]->reserve(se.size);
      }
      e.slices.push_back(std::move(se));
    }
  }
  std::map<std::string, std::vector<torch::Tensor>> logit_parts;
  std::map<std::string, double> loss_sum;
  const int64_t n = rows.size(0);
  auto rows_of = [&](int64_t k) { return rows.slice(0, k * batch_size, std::min<int64_t>(n, (k + 1) * batch_size)); };
  BatchStream stream(batcher, rows_of, (n + batch_size - 1) / batch_size);
  for (int64_t start = 0; start < n; start += batch_size) {
    auto idx = rows_of(start / batch_size);
    Batch b = stream.next();
    auto out = model.forward(b);
    // Which rows of this batch each slice holds: a pointer per slice. When every row is scored
    // in order, that is a range of the membership matrix itself; otherwise gather it.
    torch::Tensor members;
    const bool* member_base = nullptr;
    int64_t member_stride = 0;
    if (with_slices) {
      if (all_rows) {
        member_base = slices->membership.data_ptr<bool>() + start;
        member_stride = slices->membership.size(1);
      } else {
        members = slices->membership.index_select(1, idx).contiguous();
        member_base = members.data_ptr<bool>();
        member_stride = idx.size(0);
      }
    }
    for (const auto& f : c.output_features) {
      auto& logits = out.at(f.name);
      if (needs_targets) {
        const auto& target = b.at(f.name);
        auto l = output_kind(f.type).loss(f, meta.at(f.name), logits, target);
        auto& overall = *e.outputs[f.name];
        PreparedBatch pb = overall.prepare(logits, target, l.rows);
        overall.add(pb, nullptr);
        for (size_t s = 0; with_slices && s < e.slices.size(); ++s)
          e.slices[s].outputs[f.name]->add(pb, member_base + s * member_stride);
      }
      if (keep_logits) logit_parts[f.name].push_back(logits);
    }
  }
  e.rows = n;
  if (needs_targets) {  // sort ROC scores of every accumulator, in parallel
    std::vector<OutputMetrics*> all;
    for (auto& [name, m] : e.outputs) all.push_back(m.get());
    for (auto& se : e.slices)
      for (auto& [name, m] : se.outputs) all.push_back(m.get());
    parallel_for(all.size(), ThreadScope::current(), [&](size_t i) { all[i]->finalize(); });
  }
  for (const auto& f : c.output_features) {
    if (keep_logits)
      e.logits[f.name] = logit_parts[f.name].empty() ? torch::empty({0})
                                                     : torch::cat(logit_parts[f.name], 0);
    if (needs_targets) e.combined_loss += f.loss.weight * e.outputs[f.name]->value("loss");
  }
  if (was_training) model.train();
  return e;
}

void TrainingStatistics::append(const std::string& split, const Evaluation& e) {
  auto& s = splits[split];
  for (const auto& [name, m] : e.outputs)
    for (const auto& [metric, v] : m->values()) s[name][metric].push_back(v);
  s["combined"]["loss"].push_back(e.combined_loss);
  for (const auto& se : e.slices) {
    slice_sizes[split][se.name] = se.size;
    if (se.size < e.min_slice_size) continue;  // too small to report: size only
    for (const auto& [name, m] : se.outputs)
      for (const auto& [metric, v] : m->values()) slices[split][se.name][name][metric].push_back(v);
  }
}

std::string TrainingStatistics::to_json() const {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.SetIndent(' ', 1);
  w.SetFormatOptions(rapidjson::kFormatSingleLineArray);
  auto members = [&](const Series& fields) {  // field → metric → values, inside an object
    for (const auto& [field, metrics] : fields) {
      json_key(w, field);
      w.StartObject();
      for (const auto& [metric, values] : metrics) {
        json_key(w, metric);
        w.StartArray();
        for (double v : values) json_double(w, v);
        w.EndArray();
      }
      w.EndObject();
    }
  };
  auto series = [&](const Series& fields) {
    w.StartObject();
    members(fields);
    w.EndObject();
  };
  w.StartObject();
  for (const auto& [split, fields] : splits) {
    json_key(w, split);
    series(fields);
  }
  if (!slice_sizes.empty()) {
    // "slices": split → slice → {"size": rows, output → metric → values}
    w.Key("slices");
    w.StartObject();
    for (const auto& [split, sizes] : slice_sizes) {
      json_key(w, split);
      w.StartObject();
      for (const auto& [name, size] : sizes) {
        json_key(w, name);
        w.StartObject();
        w.Key("size");
        w.Int64(size);
        auto it = slices.find(split);
        if (it != slices.end() && it->second.count(name)) members(it->second.at(name));
        w.EndObject();
      }
      w.EndObject();
    }
    w.EndObject();
  }
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

TrainingStatistics TrainingStatistics::from_json(const std::string& text) {
  TrainingStatistics s;
  rapidjson::Document d;
  d.Parse<rapidjson::kParseFullPrecisionFlag>(text.c_str(), text.size());  // exact round trip
  if (d.HasParseError() || !d.IsObject()) return s;
  for (auto& sp : d.GetObject()) {
    if (std::string(sp.name.GetString()) == "slices") {
      for (auto& split : sp.value.GetObject())
        for (auto& sl : split.value.GetObject())
          for (auto& field : sl.value.GetObject()) {
            if (std::string(field.name.GetString()) == "size") {
              s.slice_sizes[split.name.GetString()][sl.name.GetString()] = field.value.GetInt64();
              continue;
            }
            for (auto& metric : field.value.GetObject()) {
              auto& vec = s.slices[split.name.GetString()][sl.name.GetString()]
                                  [field.name.GetString()][metric.name.GetString()];
              for (auto& v : metric.value.GetArray())
                vec.push_back(v.IsNumber() ? v.GetDouble() : std::nan(""));
            }
          }
      continue;
    }
    for (auto& field : sp.value.GetObject())
      for (auto& metric : field.value.GetObject()) {
        auto& vec = s.splits[sp.name.GetString()][field.name.GetString()][metric.name.GetString()];
        for (auto& v : metric.value.GetArray())
          vec.push_back(v.IsNumber() ? v.GetDouble() : std::nan(""));
      }
  }
  return s;
}

std::string evaluation_to_json(const Evaluation& e) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.SetIndent(' ', 1);
  w.SetFormatOptions(rapidjson::kFormatSingleLineArray);
  w.StartObject();
  for (const auto& [name, m] : e.outputs) {
    json_key(w, name);
    w.StartObject();
    for (const auto& [metric, v] : m->values()) {
      json_key(w, metric);
      json_double(w, v);
    }
    m->write_details(w);
    w.EndObject();
  }
  w.Key("combined");
  w.StartObject();
  w.Key("loss");
  json_double(w, e.combined_loss);
  w.EndObject();
  if (!e.gates.empty()) {
    w.Key("gates");
    w.StartArray();
    for (const auto& g : e.gates) {
      w.StartObject();
      w.Key("gate"), json_string(w, g.gate);
      w.Key("value"), json_double(w, g.value);
      w.Key("passed"), w.Bool(g.passed);
      w.Key("skipped"), w.Bool(g.skipped);
      if (!g.detail.empty()) w.Key("detail"), json_string(w, g.detail);
      w.EndObject();
    }
    w.EndArray();
  }
  if (!e.slices.empty()) {
    // "slices": slice → {"size", output → metric → value, accuracy_ci95}; small slices: size only
    w.Key("slices");
    w.StartObject();
    for (const auto& se : e.slices) {
      json_key(w, se.name);
      w.StartObject();
      w.Key("size");
      w.Int64(se.size);
      if (se.size < e.min_slice_size) {
        w.Key("below_min_slice_size");
        w.Bool(true);
      } else {
        for (const auto& [name, m] : se.outputs) {
          json_key(w, name);
          w.StartObject();
          for (const auto& [metric, v] : m->values()) {
            json_key(w, metric);
            json_double(w, v);
          }
          if (m->correct() >= 0) {
            auto [lo, hi] = wilson_interval(static_cast<double>(m->correct()),
                                            static_cast<double>(m->count()));
            w.Key("accuracy_ci95");
            w.StartArray();
            json_double(w, lo);
            json_double(w, hi);
            w.EndArray();
          }
          m->write_details(w);
          w.EndObject();
        }
      }
      w.EndObject();
    }
    w.EndObject();
  }
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

}  // namespace kiln

namespace kiln {

std::vector<GateResult> check_gates(const Config& c, const Evaluation& e,
                                    const TrainingStatistics* baseline, int best_epoch) {
  std::vector<GateResult> out;
  if (!c.slices) return out;
  for (const auto& g : c.slices->gates) {
    GateResult r;
    const std::string output = g.output.value_or(c.validation_field());
    const std::string where = g.slice ? *g.slice : std::string("all rows");
    std::vector<std::string> bounds;
    if (g.min) bounds.push_back(">= " + format_double(*g.min));
    if (g.max) bounds.push_back("<= " + format_double(*g.max));
    if (g.max_drop) bounds.push_back("drop <= " + format_double(*g.max_drop));
    r.gate = where + ": " + output + " " + g.metric + " " + join(bounds, ", ");
    r.value = std::nan("");
    const OutputMetrics* m = nullptr;
    if (!g.slice) {
      auto it = e.outputs.find(output);
      if (it != e.outputs.end()) m = it->second.get();
    } else {
      for (const auto& se : e.slices) {
        if (se.name != *g.slice) continue;
        if (se.size < e.min_slice_size) {
          r.skipped = true;
          r.detail = "only " + std::to_string(se.size) + " rows (min_slice_size " +
                     std::to_string(e.min_slice_size) + ")";
        } else {
          m = se.outputs.at(output).get();
        }
      }
      if (!m && !r.skipped) {
        r.skipped = true;
        r.detail = "slice not present in this data";
      }
    }
    if (m) {
      r.value = m->value(g.metric);
      const bool higher = higher_is_better(g.metric);
      if (g.min && !(r.value >= *g.min)) r.passed = false;
      if (g.max && !(r.value <= *g.max)) r.passed = false;
      if (g.max_drop) {
        double base = std::nan("");
        if (baseline && best_epoch > 0) {
          const std::vector<double>* series = nullptr;
          if (!g.slice) {
            auto sp = baseline->splits.find("test");
            if (sp != baseline->splits.end() && sp->second.count(output) &&
                sp->second.at(output).count(g.metric))
              series = &sp->second.at(output).at(g.metric);
          } else {
            auto sp = baseline->slices.find("test");
            if (sp != baseline->slices.end() && sp->second.count(*g.slice) &&
                sp->second.at(*g.slice).count(output) &&
                sp->second.at(*g.slice).at(output).count(g.metric))
              series = &sp->second.at(*g.slice).at(output).at(g.metric);
          }
          if (series && static_cast<int>(series->size()) >= best_epoch) base = (*series)[best_epoch - 1];
        }
        if (std::isnan(base)) {
          r.detail = "no training-time value to compare with";
          if (!g.min && !g.max) r.skipped = true;
        } else {
          double drop = higher ? base - r.value : r.value - base;
          r.detail = "training-time value " + format_double(base) + ", drop " + format_double(drop);
          if (drop > *g.max_drop) r.passed = false;
        }
      }
    }
    if (r.skipped) r.passed = true;
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace kiln
