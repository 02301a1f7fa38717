// The run report as ONE self-contained HTML file: inline CSS, inline SVG charts, a few lines of
// inline JavaScript to sort tables; no external URL. Sections: overview, learning curves (overall
// and per slice), slice leaderboard, gates, confusion matrices, ROC / precision-recall, drift,
// discovered slices, monitor trends.
#include "util/json.h"  // first: configures RapidJSON

#include <rapidjson/document.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "monitor/monitor_store.h"
#include "report/report.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strings.h"

namespace kiln {
namespace {

using Doc = rapidjson::Document;
using Val = rapidjson::Value;

const char* kPalette[] = {"#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c",
                          "#0891b2", "#be185d", "#4d7c0f", "#6b7280", "#a16207"};

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

std::string num(double v, int digits = 4) {
  if (!std::isfinite(v)) return "–";
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

Doc load(const std::string& path) {
  Doc d;
  d.SetObject();
  if (!file_exists(path)) return d;
  std::string text = read_file(path);
  Doc x;
  x.Parse(text.c_str(), text.size());
  if (x.HasParseError() || !x.IsObject()) throw ModelError(path + ": corrupt JSON file");
  return x;
}

struct Series {
  std::string name;
  std::vector<double> y;
};

// A line chart over evaluation index (epochs 1..n).
std::string line_chart(const std::string& title, const std::vector<Series>& series) {
  // Tall enough for one legend line per series (many slices).
  const double W = 560, L = 50, R = 150, T = 28, B = 30;
  const double H = std::max(250.0, T + 16.0 * static_cast<double>(series.size()) + 10);
  double lo = INFINITY, hi = -INFINITY;
  size_t n = 0;
  for (const auto& s : series) {
    n = std::max(n, s.y.size());
    for (double v : s.y)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  std::ostringstream o;
  o << "<svg class=chart viewBox='0 0 " << W << " " << H << "' width='" << W << "' height='" << H
    << "' role=img><title>" << esc(title) << "</title><text x='" << L << "' y='16' class=ct>"
    << esc(title) << "</text>";
  if (n == 0 || !std::isfinite(lo)) return o.str() + "<text x='60' y='120'>no data</text></svg>";
  if (hi - lo < 1e-12) hi = lo + 1;
  auto X = [&](size_t i) { return L + (W - L - R) * (n > 1 ? double(i) / (n - 1) : 0.5); };
  auto Y = [&](double v) { return T + (H - T - B) * (1 - (v - lo) / (hi - lo)); };
  o << "<line x1='" << L << "' y1='" << H - B << "' x2='" << W - R << "' y2='" << H - B << "' class=ax />"
    << "<line x1='" << L << "' y1='" << T << "' x2='" << L << "' y2='" << H - B << "' class=ax />";
  for (int k = 0; k <= 4; ++k) {
    double v = lo + (hi - lo) * k / 4;
    o << "<text x='" << L - 4 << "' y='" << Y(v) + 4 << "' class=tl text-anchor=end>" << num(v, 3) << "</text>";
  }
  o << "<text x='" << X(0) << "' y='" << H - 12 << "' class=tl>1</text><text x='" << X(n - 1) - 10
    << "' y='" << H - 12 << "' class=tl>" << n << "</text><text x='" << (L + W - R) / 2 << "' y='" << H - 4
    << "' class=tl>epoch</text>";
  for (size_t s = 0; s < series.size(); ++s) {
    std::string pts;
    for (size_t i = 0; i < series[s].y.size(); ++i)
      if (std::isfinite(series[s].y[i])) pts += num(X(i), 1) + "," + num(Y(series[s].y[i]), 1) + " ";
    const char* color = kPalette[s % 10];
    const char* dash = s >= 10 ? " stroke-dasharray='5 3'" : "";  // past 10 colours: dashed
    o << "<polyline fill=none stroke='" << color << "'" << dash << " stroke-width=2 points='" << pts << "'/>"
      << "<rect x='" << W - R + 10 << "' y='" << T + 16 * s << "' width=10 height=10 fill='" << color
      << "'/><text x='" << W - R + 24 << "' y='" << T + 9 + 16 * s << "' class=tl>"
      << esc(series[s].name.substr(0, 22)) << "</text>";
  }
  return o.str() + "</svg>";
}

// A curve in the unit square (ROC, precision-recall).
std::string unit_curve(const std::string& title, const std::vector<double>& x,
                       const std::vector<double>& y, const char* xl, const char* yl, bool diagonal) {
  const double S = 240, P = 40;
  std::ostringstream o;
  o << "<svg class=chart viewBox='0 0 " << S + P + 10 << " " << S + P + 20 << "' width='" << S + P + 10
    << "' height='" << S + P + 20 << "' role=img><title>" << esc(title) << "</title><text x='" << P
    << "' y='14' class=ct>" << esc(title) << "</text><rect x='" << P << "' y='20' width='" << S
    << "' height='" << S << "' class=box />";
  if (diagonal)
    o << "<line x1='" << P << "' y1='" << 20 + S << "' x2='" << P + S << "' y2='20' class=diag />";
  std::string pts;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i)
    pts += num(P + S * x[i], 1) + "," + num(20 + S * (1 - y[i]), 1) + " ";
  o << "<polyline fill=none stroke='#2563eb' stroke-width=2 points='" << pts << "'/>"
    << "<text x='" << P + S / 2 - 20 << "' y='" << S + 38 << "' class=tl>" << xl << "</text>"
    << "<text x='4' y='" << 20 + S / 2 << "' class=tl>" << yl << "</text></svg>";
  return o.str();
}

std::string heatmap(const Val& labels, const Val& cm) {
  const size_t C = cm.Size();
  const double cell = std::max(18.0, std::min(48.0, 360.0 / std::max<size_t>(C, 1))), L = 120, T = 90;
  double mx = 1;
  for (const auto& row : cm.GetArray())
    for (const auto& v : row.GetArray()) mx = std::max(mx, v.GetDouble());
  std::ostringstream o;
  o << "<svg class=chart width='" << L + cell * C + 10 << "' height='" << T + cell * C + 10
    << "' role=img><title>confusion matrix</title>";
  for (size_t j = 0; j < C; ++j)
    o << "<text class=tl transform='translate(" << L + cell * j + cell / 2 << "," << T - 6
      << ") rotate(-45)'>" << esc(std::string(labels[j].GetString()).substr(0, 14)) << "</text>";
  for (size_t i = 0; i < C; ++i) {
    o << "<text class=tl x='" << L - 6 << "' y='" << T + cell * i + cell / 2 + 4 << "' text-anchor=end>"
      << esc(std::string(labels[i].GetString()).substr(0, 16)) << "</text>";
    for (size_t j = 0; j < C; ++j) {
      double v = cm[i][j].GetDouble(), a = v / mx;
      o << "<rect x='" << L + cell * j << "' y='" << T + cell * i << "' width='" << cell - 1
        << "' height='" << cell - 1 << "' fill='rgba(37,99,235," << num(0.08 + 0.92 * a, 3)
        << ")'><title>true " << esc(labels[i].GetString()) << ", predicted "
        << esc(labels[j].GetString()) << ": " << v << "</title></rect><text x='"
        << L + cell * j + cell / 2 << "' y='" << T + cell * i + cell / 2 + 4
        << "' text-anchor=middle class='tl " << (a > 0.55 ? "inv" : "") << "'>" << v << "</text>";
    }
  }
  return o.str() + "</svg>";
}

std::string sparkline(const std::vector<std::pair<int64_t, double>>& pts) {
  if (pts.empty()) return "";
  double lo = INFINITY, hi = -INFINITY;
  for (auto& p : pts) lo = std::min(lo, p.second), hi = std::max(hi, p.second);
  if (hi - lo < 1e-12) hi = lo + 1;
  std::string s;
  for (size_t i = 0; i < pts.size(); ++i)
    s += num(pts.size() > 1 ? 2 + 116.0 * i / (pts.size() - 1) : 60, 1) + "," +
         num(20 - 16 * (pts[i].second - lo) / (hi - lo), 1) + " ";
  return "<svg width=120 height=24><polyline fill=none stroke='#2563eb' stroke-width=1.5 points='" + s + "'/></svg>";
}

const Val* member(const Val& v, const char* k) {
  return v.IsObject() && v.HasMember(k) ? &v[k] : nullptr;
}

}  // namespace

std::string html_escape(const std::string& s) { return esc(s); }

std::string render_html_report(const std::string& dir) {
  Doc desc = load(path_join(dir, "description.json"));
  if (desc.MemberCount() == 0)
    throw ModelError(path_join(dir, "description.json") + ": not found (run kiln train or experiment first)");
  Doc train = load(path_join(dir, "training_statistics.json"));
  Doc test = load(path_join(dir, "test_statistics.json"));
  Doc drift = load(path_join(dir, "drift.json"));
  Doc found = load(path_join(path_join(dir, "reports"), "slices.json"));
  auto str = [&](const char* k) {
    return desc.HasMember(k) && desc[k].IsString() ? std::string(desc[k].GetString()) : "";
  };
  const std::string field = str("validation_field"), metric = str("validation_metric");
  std::ostringstream h;
  h << "<!doctype html><html lang=en><head><meta charset=utf-8><title>Kiln report: " << esc(dir)
    << "</title><style>"
       "body{font:14px system-ui,sans-serif;margin:24px auto;max-width:1180px;color:#111;padding:0 16px}"
       "h1{font-size:22px}h2{font-size:17px;margin-top:30px;border-bottom:1px solid #ddd;padding-bottom:4px}"
       ".cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #ddd;border-radius:8px;padding:8px 12px}"
       ".card b{display:block;font-size:18px}.muted{color:#666}"
       "table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}"
       "th{background:#f3f4f6;cursor:pointer}td:first-child,th:first-child{text-align:left}"
       ".pos{color:#15803d}.neg{color:#b91c1c}.pass{color:#15803d;font-weight:600}.fail{color:#b91c1c;font-weight:600}"
       ".warning{color:#b45309}.alert{color:#b91c1c;font-weight:600}.ok{color:#15803d}"
       ".chart{margin:6px 12px 6px 0}.ct{font-weight:600;font-size:13px}.tl{font-size:11px;fill:#333}"
       ".tl.inv{fill:#fff}.ax{stroke:#999}.box{fill:none;stroke:#999}.diag{stroke:#bbb;stroke-dasharray:4}"
       ".row{display:flex;flex-wrap:wrap;align-items:flex-start}"
       "</style></head><body>";
  h << "<h1>Kiln report</h1><p class=muted>" << esc(dir) << " · dataset " << esc(str("dataset"))
    << " · checksum " << esc(str("dataset_checksum")) << " · kiln " << esc(str("kiln_version")) << " ("
    << esc(str("git_hash")) << ")</p>";

  // Overview.
  h << "<h2>Overview</h2><div class=cards>";
  if (auto* s = member(desc, "split_rows"))
    h << "<div class=card>rows<b>" << (*s)["training"].GetInt64() << " / " << (*s)["validation"].GetInt64()
      << " / " << (*s)["test"].GetInt64() << "</b><span class=muted>train / validation / test</span></div>";
  if (auto* p = member(desc, "num_parameters")) h << "<div class=card>parameters<b>" << p->GetInt64() << "</b></div>";
  if (auto* e = member(desc, "epochs"))
    h << "<div class=card>epochs<b>" << e->GetInt() << "</b><span class=muted>best " << desc["best_epoch"].GetInt()
      << " by validation " << esc(field + " " + metric) << "</span></div>";
  if (auto* t = member(desc, "timings"))
    h << "<div class=card>time<b>" << num((*t)["total_s"].GetDouble(), 2) << " s</b><span class=muted>training "
      << num((*t)["train_s"].GetDouble(), 2) << " s</span></div>";
  for (auto& out : test.GetObject()) {
    std::string name = out.name.GetString();
    if (name == "slices" || name == "gates" || name == "combined" || !out.value.IsObject()) continue;
    for (auto& m : out.value.GetObject())
      if (m.value.IsNumber())
        h << "<div class=card>" << esc(name) << " · test " << esc(m.name.GetString()) << "<b>"
          << num(m.value.GetDouble()) << "</b></div>";
  }
  h << "</div>";

  // Learning curves: per output, the validation metric on each split, and per slice.
  h << "<h2>Learning curves</h2><div class=row>";
  auto series_of = [&](const Val* split_obj, const std::string& f, const std::string& m) {
    std::vector<double> y;
    if (!split_obj || !split_obj->HasMember(f.c_str())) return y;
    const Val& fo = (*split_obj)[f.c_str()];
    if (!fo.HasMember(m.c_str())) return y;
    for (auto& v : fo[m.c_str()].GetArray()) y.push_back(v.IsNumber() ? v.GetDouble() : NAN);
    return y;
  };
  std::vector<std::string> outputs;
  if (auto* v = member(train, "validation"))
    for (auto& f : v->GetObject()) outputs.push_back(f.name.GetString());
  for (const auto& out : outputs) {
    const std::string m = out == "combined" ? "loss" : (out == field ? metric : "loss");
    std::vector<Series> ss;
    for (const char* split : {"training", "validation", "test"}) {
      auto y = series_of(member(train, split), out, m);
      if (!y.empty()) ss.push_back({split, y});
    }
    h << line_chart(out + " " + m, ss);
  }
  if (auto* sl = member(train, "slices")) {
    if (auto* v = member(*sl, "validation")) {
      std::vector<Series> ss;
      std::string f = field == "combined" && !outputs.empty() ? outputs[0] : field;
      for (auto& s : v->GetObject()) {
        auto y = series_of(&s.value, f, metric);
        if (!y.empty()) ss.push_back({s.name.GetString(), y});
      }
      if (!ss.empty()) h << line_chart("slices: validation " + f + " " + metric, ss);
    }
  }
  h << "</div>";

  // Slice leaderboard: test metrics per slice, deltas against all rows and against training time
  // (the validation value at the best epoch).
  if (auto* sl = member(test, "slices")) {
    h << "<h2>Slice leaderboard</h2><p class=muted>Test split. Δ overall: slice minus all rows. "
         "Δ training: test minus validation at the best epoch. Click a header to sort.</p>"
         "<table class=sortable><thead><tr><th>slice</th><th>rows</th><th>output</th><th>metric</th>"
         "<th>value</th><th>95% CI</th><th>Δ overall</th><th>Δ training</th></tr></thead><tbody>";
    int best = desc.HasMember("best_epoch") ? desc["best_epoch"].GetInt() : 0;
    for (auto& s : sl->GetObject()) {
      for (auto& out : s.value.GetObject()) {
        if (!out.value.IsObject()) continue;
        std::string o = out.name.GetString();
        for (auto& m : out.value.GetObject()) {
          if (!m.value.IsNumber() || std::string(m.name.GetString()) == "loss") continue;
          std::string mn = m.name.GetString();
          double v = m.value.GetDouble();
          double overall = test.HasMember(o.c_str()) && test[o.c_str()].HasMember(mn.c_str())
                               ? test[o.c_str()][mn.c_str()].GetDouble() : NAN;
          double at_training = NAN;
          if (auto* ts = member(train, "slices"))
            if (auto* tv = member(*ts, "validation"))
              if (tv->HasMember(s.name.GetString())) {
                auto y = series_of(&(*tv)[s.name.GetString()], o, mn);
                if (best > 0 && static_cast<int>(y.size()) >= best) at_training = y[best - 1];
              }
          auto delta = [&](double d) {
            if (!std::isfinite(d)) return std::string("<td>–</td>");
            return std::string("<td class=") + (d >= 0 ? "pos" : "neg") + ">" + (d >= 0 ? "+" : "") + num(d) + "</td>";
          };
          std::string ci = "–";
          if (mn == "accuracy" && out.value.HasMember("accuracy_ci95"))
            ci = num(out.value["accuracy_ci95"][0].GetDouble(), 3) + "–" + num(out.value["accuracy_ci95"][1].GetDouble(), 3);
          h << "<tr><td>" << esc(s.name.GetString()) << "</td><td>" << s.value["size"].GetInt64() << "</td><td>"
            << esc(o) << "</td><td>" << esc(mn) << "</td><td>" << num(v) << "</td><td>" << ci << "</td>"
            << delta(v - overall) << delta(v - at_training) << "</tr>";
        }
      }
    }
    h << "</tbody></table>";
  }
  if (auto* g = member(test, "gates")) {
    h << "<h2>Gates</h2><table><tr><th>gate</th><th>value</th><th>verdict</th><th>detail</th></tr>";
    for (auto& x : g->GetArray()) {
      bool skipped = x["skipped"].GetBool(), passed = x["passed"].GetBool();
      h << "<tr><td>" << esc(x["gate"].GetString()) << "</td><td>"
        << num(x["value"].IsNumber() ? x["value"].GetDouble() : NAN) << "</td><td class="
        << (skipped ? "muted>skip" : passed ? "pass>pass" : "fail>FAIL") << "</td><td>"
        << esc(x.HasMember("detail") ? x["detail"].GetString() : "") << "</td></tr>";
    }
    h << "</table>";
  }

  // Confusion matrices and curves per output.
  for (auto& out : test.GetObject()) {
    std::string name = out.name.GetString();
    if (name == "slices" || name == "gates" || name == "combined" || !out.value.IsObject()) continue;
    const Val& o = out.value;
    if (!o.HasMember("confusion_matrix")) continue;
    h << "<h2>" << esc(name) << ": test split</h2><div class=row>" << heatmap(o["labels"], o["confusion_matrix"]);
    if (o.HasMember("roc_curve")) {
      auto arr = [](const Val& a) {
        std::vector<double> v;
        for (auto& x : a.GetArray()) v.push_back(x.GetDouble());
        return v;
      };
      h << unit_curve("ROC (AUC " + num(o.HasMember("roc_auc") && o["roc_auc"].IsNumber() ? o["roc_auc"].GetDouble() : NAN, 3) + ")",
                      arr(o["roc_curve"]["false_positive_rate"]), arr(o["roc_curve"]["true_positive_rate"]),
                      "false positive rate", "TPR", true);
      if (o.HasMember("precision_recall_curve"))
        h << unit_curve("precision-recall", arr(o["precision_recall_curve"]["recall"]),
                        arr(o["precision_recall_curve"]["precision"]), "recall", "precision", false);
    }
    h << "</div>";
  }

  if (drift.MemberCount() > 0 && drift.HasMember("features")) {
    h << "<h2>Drift (last predict)</h2><p class=muted>" << drift["rows"].GetInt64()
      << " rows against the training profile; drift share " << num(drift["drift_share"].GetDouble(), 3)
      << ".</p><table class=sortable><thead><tr><th>feature</th><th>type</th><th>status</th><th>PSI</th><th>KS</th>"
         "<th>JS distance</th><th>unseen rate</th><th>missing rate (training → now)</th></tr></thead><tbody>";
    for (auto& f : drift["features"].GetArray()) {
      auto opt = [&](const char* k) { return f.HasMember(k) ? num(f[k].GetDouble()) : std::string("–"); };
      std::string st = f["status"].GetString();
      h << "<tr><td>" << esc(f["name"].GetString()) << "</td><td>" << esc(f["type"].GetString())
        << "</td><td class=" << st << ">" << st << "</td><td>" << num(f["psi"].GetDouble()) << "</td><td>"
        << opt("ks") << "</td><td>" << opt("js_distance") << "</td><td>" << opt("unseen_rate") << "</td><td>"
        << num(f["missing_rate_reference"].GetDouble(), 3) << " → " << num(f["missing_rate"].GetDouble(), 3)
        << "</td></tr>";
    }
    h << "</tbody></table>";
  }
  if (found.MemberCount() > 0 && found.HasMember("slices")) {
    h << "<h2>Discovered slices (SliceLine)</h2><p class=muted>Output " << esc(found["output_feature"].GetString())
      << ", mean error " << num(found["mean_error"].GetDouble()) << "; paste a <code>where</code> into the "
      << "config's <code>slices.define</code> to track it.</p><table><tr><th>where</th><th>rows</th>"
         "<th>error</th><th>score</th></tr>";
    for (auto& s : found["slices"].GetArray())
      h << "<tr><td><code>" << esc(s["where"].GetString()) << "</code></td><td>" << s["size"].GetInt64()
        << "</td><td>" << num(s["error"].GetDouble()) << "</td><td>" << num(s["score"].GetDouble(), 3) << "</td></tr>";
    h << "</table>";
  }
  const std::string store = path_join(path_join(dir, "model"), "monitor.sqlite");
  if (file_exists(store)) {
    auto series = MonitorStore(store).series(20);
    h << "<h2>Monitor trends</h2><table class=sortable><thead><tr><th>slice</th><th>feature</th><th>metric</th>"
         "<th>runs</th><th>first</th><th>last</th><th>trend</th></tr></thead><tbody>";
    for (const auto& s : series) {
      if (s.metric != "psi" && s.metric != "drift_share" && s.metric != metric && s.metric != "mean_probability")
        continue;
      h << "<tr><td>" << esc(s.slice.empty() ? "(all)" : s.slice) << "</td><td>" << esc(s.feature) << "</td><td>"
        << esc(s.metric) << "</td><td>" << s.points.size() << "</td><td>" << num(s.points.front().second)
        << "</td><td>" << num(s.points.back().second) << "</td><td>" << sparkline(s.points) << "</td></tr>";
    }
    h << "</tbody></table>";
  }
  h << "<script>for(const t of document.querySelectorAll('table.sortable')){const hs=t.tHead.rows[0].cells;"
       "for(let i=0;i<hs.length;i++){hs[i].addEventListener('click',()=>{const b=t.tBodies[0];"
       "const rs=[...b.rows];const dir=hs[i].dataset.dir==='a'?-1:1;hs[i].dataset.dir=dir>0?'a':'d';"
       "const v=r=>{const x=r.cells[i].textContent;const n=parseFloat(x.replace('+',''));return isNaN(n)?x:n};"
       "rs.sort((a,c)=>{const x=v(a),y=v(c);return (x>y?1:x<y?-1:0)*dir});rs.forEach(r=>b.appendChild(r));});}}"
       "document.body.dataset.ready='1';"  // tests check the script ran to the end
       "</script></body></html>\n";
  return h.str();
}

}  // namespace kiln
