#include "util/json.h"  // first: configures RapidJSON
#include "slices/drift.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "features/feature.h"
#include "util/error.h"
#include "util/json.h"
#include "util/strings.h"

namespace kiln {
namespace {

constexpr int kBins = 10;
constexpr int kQuantiles = 201;
constexpr size_t kMaxValues = 50;  // category values tracked one by one; the rest are "other"

double quantile_sorted(const std::vector<double>& v, double p) {
  if (v.empty()) return std::nan("");
  double pos = p * (v.size() - 1);
  size_t lo = static_cast<size_t>(pos);
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}

FeatureProfile profile_number(const FeatureConfig& f, const Table& t, const Column& c,
                              const std::vector<int64_t>& rows, const FeatureProfile* ref) {
  FeatureProfile p;
  p.name = f.name, p.type = f.type;
  std::vector<double> v;
  v.reserve(rows.size());
  for (int64_t r : rows) {
    double x;
    if (Table::missing(c, r) || !parse_double(t.cell(c, r), x) || std::isnan(x))
      ++p.missing;
    else
      v.push_back(x);
  }
  p.rows = static_cast<int64_t>(rows.size());
  std::sort(v.begin(), v.end());
  if (ref) {
    p.edges = ref->edges;
  } else {
    for (int i = 1; i < kBins; ++i) {
      double e = quantile_sorted(v, static_cast<double>(i) / kBins);
      if (!std::isnan(e) && (p.edges.empty() || e > p.edges.back())) p.edges.push_back(e);
    }
  }
  for (int i = 0; i < kQuantiles && !v.empty(); ++i)
    p.quantiles.push_back(quantile_sorted(v, static_cast<double>(i) / (kQuantiles - 1)));
  p.counts.assign(p.edges.size() + 1, 0);
  for (double x : v) {
    size_t bin = std::upper_bound(p.edges.begin(), p.edges.end(), x) - p.edges.begin();
    p.counts[bin]++;
  }
  p.sorted_sample = std::move(v);
  return p;
}

FeatureProfile profile_values(const FeatureConfig& f, const Table& t, const Column& c,
                              const std::vector<int64_t>& rows, const FeatureProfile* ref) {
  FeatureProfile p;
  p.name = f.name, p.type = f.type;
  std::unordered_map<std::string_view, int64_t> counts;
  for (int64_t r : rows) {
    if (Table::missing(c, r))
      ++p.missing;
    else
      counts[trim(t.cell(c, r))]++;
  }
  p.rows = static_cast<int64_t>(rows.size());
  if (ref) {
    p.values = ref->values;
  } else {
    std::vector<std::pair<std::string_view, int64_t>> sorted(counts.begin(), counts.end());
    std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    for (size_t i = 0; i < sorted.size() && i < kMaxValues; ++i) p.values.emplace_back(sorted[i].first);
  }
  p.counts.assign(p.values.size() + 1, 0);
  int64_t tracked = 0;
  for (size_t i = 0; i < p.values.size(); ++i) {
    auto it = counts.find(p.values[i]);
    if (it != counts.end()) p.counts[i] = it->second, tracked += it->second;
  }
  p.counts.back() = (p.rows - p.missing) - tracked;  // other / unseen
  return p;
}

// Proportions with a floor, so PSI and JS stay finite when a bucket is empty on one side.
std::vector<double> proportions(const std::vector<int64_t>& counts) {
  double total = 0;
  for (auto c : counts) total += c;
  std::vector<double> p(counts.size());
  for (size_t i = 0; i < counts.size(); ++i)
    p[i] = std::max(total > 0 ? counts[i] / total : 0.0, 1e-4);
  return p;
}

}  // namespace

// Whether profiles of this feature type are numeric (bins, quantiles) rather than value counts.
static bool numeric_type(const std::string& type) {
  const auto* k = feature_kinds().find(type);
  return k && (*k)->distribution() == FeatureKind::Distribution::numeric;
}

DataProfile profile_data(const Config& c, const Table& t, const std::vector<int64_t>& rows,
                         const DataProfile* reference) {
  DataProfile d;
  d.rows = static_cast<int64_t>(rows.size());
  for (size_t i = 0; i < c.input_features.size(); ++i) {
    const auto& f = c.input_features[i];
    // Profiles compare value distributions; free text and other non-tabular values (every one
    // distinct) are left out.
    const auto distribution = feature_kind(f.type).distribution();
    if (distribution == FeatureKind::Distribution::none) continue;
    const FeatureProfile* ref = nullptr;
    if (reference)
      for (const auto& fp : reference->features)
        if (fp.name == f.name) ref = &fp;
    const Column& col = t.get(f.column);
    if (distribution == FeatureKind::Distribution::numeric)
      d.features.push_back(profile_number(f, t, col, rows, ref));
    else
      d.features.push_back(profile_values(f, t, col, rows, ref));
  }
  return d;
}

DataDrift compare_profiles(const DataProfile& reference, const DataProfile& now,
                           const DriftThresholds& th) {
  DataDrift out;
  out.rows = now.rows;
  int alerts = 0;
  for (const auto& n : now.features) {
    const FeatureProfile* r = nullptr;
    for (const auto& fp : reference.features)
      if (fp.name == n.name) r = &fp;
    if (!r || r->counts.size() != n.counts.size()) continue;
    FeatureDrift d;
    d.name = n.name, d.type = n.type;
    d.missing_rate_reference = r->rows ? static_cast<double>(r->missing) / r->rows : 0;
    d.missing_rate = n.rows ? static_cast<double>(n.missing) / n.rows : 0;
    auto pr = proportions(r->counts), pn = proportions(n.counts);
    for (size_t i = 0; i < pr.size(); ++i) d.psi += (pn[i] - pr[i]) * std::log(pn[i] / pr[i]);
    if (numeric_type(n.type)) {
      // KS from the training quantiles: F_ref(q_i) = i / (m - 1) against the new data's CDF.
      const auto& q = r->quantiles;
      const auto& s = n.sorted_sample;
      double ks = 0;
      for (size_t i = 0; i < q.size() && !s.empty(); ++i) {
        double fn = static_cast<double>(std::upper_bound(s.begin(), s.end(), q[i]) - s.begin()) / s.size();
        double fr = static_cast<double>(i) / (q.size() - 1);
        ks = std::max(ks, std::fabs(fn - fr));
      }
      d.ks = s.empty() || q.empty() ? -1 : ks;
    } else {
      double total = 0;
      for (auto c : n.counts) total += c;
      double chi = 0;
      for (size_t i = 0; i < pr.size(); ++i) {
        double expected = pr[i] * total;
        chi += (n.counts[i] - expected) * (n.counts[i] - expected) / expected;
      }
      d.chi_square = chi;
      double js = 0;
      for (size_t i = 0; i < pr.size(); ++i) {
        double m = 0.5 * (pr[i] + pn[i]);
        js += 0.5 * pr[i] * std::log2(pr[i] / m) + 0.5 * pn[i] * std::log2(pn[i] / m);
      }
      d.js_distance = std::sqrt(std::max(0.0, js));
      d.unseen_rate = total > 0 ? n.counts.back() / total : 0;
    }
    d.status = d.psi >= th.psi_alert ? "alert" : d.psi >= th.psi_warning ? "warning" : "ok";
    alerts += d.status == "alert";
    out.features.push_back(std::move(d));
  }
  out.drift_share = out.features.empty() ? 0 : static_cast<double>(alerts) / out.features.size();
  return out;
}

namespace {

void write_profile(JsonWriter& w, const DataProfile& d) {
  w.StartObject();
  w.Key("rows"), w.Int64(d.rows);
  w.Key("features");
  w.StartArray();
  for (const auto& f : d.features) {
    w.StartObject();
    w.Key("name"), json_string(w, f.name);
    w.Key("type"), json_string(w, f.type);
    w.Key("rows"), w.Int64(f.rows);
    w.Key("missing"), w.Int64(f.missing);
    w.Key("edges"), w.StartArray();
    for (double x : f.edges) json_double(w, x);
    w.EndArray();
    w.Key("quantiles"), w.StartArray();
    for (double x : f.quantiles) json_double(w, x);
    w.EndArray();
    w.Key("values"), w.StartArray();
    for (const auto& x : f.values) json_string(w, x);
    w.EndArray();
    w.Key("counts"), w.StartArray();
    for (auto x : f.counts) w.Int64(x);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

DataProfile read_profile(const rapidjson::Value& v) {
  DataProfile d;
  d.rows = v["rows"].GetInt64();
  for (const auto& f : v["features"].GetArray()) {
    FeatureProfile p;
    p.name = f["name"].GetString(), p.type = f["type"].GetString();
    p.rows = f["rows"].GetInt64(), p.missing = f["missing"].GetInt64();
    for (const auto& x : f["edges"].GetArray()) p.edges.push_back(x.GetDouble());
    for (const auto& x : f["quantiles"].GetArray()) p.quantiles.push_back(x.GetDouble());
    for (const auto& x : f["values"].GetArray()) p.values.emplace_back(x.GetString(), x.GetStringLength());
    for (const auto& x : f["counts"].GetArray()) p.counts.push_back(x.GetInt64());
    d.features.push_back(std::move(p));
  }
  return d;
}

}  // namespace

void write_drift_json(JsonWriter& w, const DataDrift& d) {
  w.Key("rows"), w.Int64(d.rows);
  w.Key("drift_share"), json_double(w, d.drift_share);
  w.Key("features");
  w.StartArray();
  for (const auto& f : d.features) {
    w.StartObject();
    w.Key("name"), json_string(w, f.name);
    w.Key("type"), json_string(w, f.type);
    w.Key("status"), json_string(w, f.status);
    w.Key("psi"), json_double(w, f.psi);
    if (f.ks >= 0) w.Key("ks"), json_double(w, f.ks);
    if (f.chi_square >= 0) w.Key("chi_square"), json_double(w, f.chi_square);
    if (f.js_distance >= 0) w.Key("js_distance"), json_double(w, f.js_distance);
    if (!numeric_type(f.type)) w.Key("unseen_rate"), json_double(w, f.unseen_rate);
    w.Key("missing_rate"), json_double(w, f.missing_rate);
    w.Key("missing_rate_reference"), json_double(w, f.missing_rate_reference);
    w.EndObject();
  }
  w.EndArray();
}

std::string drift_reference_to_json(const DriftReference& r) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.SetIndent(' ', 1);
  w.SetFormatOptions(rapidjson::kFormatSingleLineArray);
  w.StartObject();
  w.Key("overall");
  write_profile(w, r.overall);
  w.Key("slices");
  w.StartObject();
  for (const auto& [name, p] : r.slices) {
    json_key(w, name);
    write_profile(w, p);
  }
  w.EndObject();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

DriftReference drift_reference_from_json(const std::string& text, const std::string& source) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseFullPrecisionFlag>(text.c_str(), text.size());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("overall"))
    throw ModelError(source + ": corrupt drift reference (not the expected JSON object)");
  DriftReference r;
  try {
    r.overall = read_profile(d["overall"]);
    if (d.HasMember("slices"))
      for (auto& s : d["slices"].GetObject()) r.slices[s.name.GetString()] = read_profile(s.value);
  } catch (const std::runtime_error& e) {
    throw ModelError(source + ": corrupt drift reference (" + e.what() + ")");
  }
  return r;
}

}  // namespace kiln
