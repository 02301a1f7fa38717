#include "automl/hyperopt_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "report/report.h"
#include "util/strings.h"

namespace kiln {
namespace {

std::string num(double v, int digits = 4) {
  if (!std::isfinite(v)) return "–";
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

bool usable(const TrialRecord& t, size_t n_params) {
  return t.status != TrialStatus::failed && std::isfinite(t.metric) && t.internal.size() == n_params;
}

// Display value of a coordinate: the category, or the parameter's value.
std::string label(const ParamSpace& p, double x) {
  YAML::Node v = p.value(x);
  return v.IsScalar() ? v.Scalar() : yaml_to_string(v);
}

std::string best_vs_time(const HyperoptSpec& h, const std::vector<TrialRecord>& trials, double budget) {
  std::vector<std::pair<double, double>> reports;
  for (const auto& t : trials)
    for (size_t e = 0; e < t.curve.size() && e < t.curve_at.size(); ++e)
      if (std::isfinite(t.curve[e]) && std::isfinite(t.curve_at[e])) reports.push_back({t.curve_at[e], t.curve[e]});
  std::sort(reports.begin(), reports.end());
  const double W = 620, H = 260, L = 60, R = 20, T = 24, B = 34;
  std::ostringstream o;
  o << "<svg class=chart viewBox='0 0 " << W << " " << H << "' width='" << W << "' height='" << H
    << "'><text x='" << L << "' y='16' class=ct>best validation " << html_escape(h.metric)
    << " so far, against study time</text>";
  if (reports.empty()) return o.str() + "<text x='80' y='120'>no epoch reported</text></svg>";
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& [t, v] : reports) lo = std::min(lo, v), hi = std::max(hi, v);
  if (hi - lo < 1e-12) hi = lo + 1;
  const double tmax = std::max(budget, reports.back().first);
  auto X = [&](double t) { return L + (W - L - R) * t / tmax; };
  auto Y = [&](double v) { return T + (H - T - B) * (1 - (v - lo) / (hi - lo)); };
  o << "<line x1='" << L << "' y1='" << H - B << "' x2='" << W - R << "' y2='" << H - B << "' class=ax />"
    << "<line x1='" << L << "' y1='" << T << "' x2='" << L << "' y2='" << H - B << "' class=ax />";
  for (int k = 0; k <= 4; ++k) {
    double v = lo + (hi - lo) * k / 4;
    o << "<text x='" << L - 4 << "' y='" << Y(v) + 4 << "' class=tl text-anchor=end>" << num(v, 3) << "</text>";
  }
  o << "<text x='" << L << "' y='" << H - 16 << "' class=tl>0 s</text><text x='" << W - R - 30 << "' y='"
    << H - 16 << "' class=tl>" << num(tmax, 0) << " s</text>";
  for (const auto& [t, v] : reports)
    o << "<circle cx='" << num(X(t), 1) << "' cy='" << num(Y(v), 1) << "' r=2 fill='#9ca3af'/>";
  std::string pts;
  double best = NAN;
  for (const auto& [t, v] : reports) {
    bool improve = !std::isfinite(best) || (h.maximize() ? v > best : v < best);
    if (improve) {
      if (std::isfinite(best)) pts += num(X(t), 1) + "," + num(Y(best), 1) + " ";
      best = v;
      pts += num(X(t), 1) + "," + num(Y(best), 1) + " ";
    }
  }
  pts += num(X(reports.back().first), 1) + "," + num(Y(best), 1);
  o << "<polyline fill=none stroke='#2563eb' stroke-width=2 points='" << pts << "'/></svg>";
  return o.str();
}

std::string parallel_coordinates(const HyperoptSpec& h, const std::vector<TrialRecord>& trials, int64_t best_id) {
  const size_t n = h.parameters.size();
  const double W = std::max(520.0, 150.0 * (n + 1)), H = 320, T = 40, B = 40, L = 70, R = 70;
  std::vector<const TrialRecord*> use;
  for (const auto& t : trials)
    if (usable(t, n)) use.push_back(&t);
  std::ostringstream o;
  o << "<svg class=chart viewBox='0 0 " << W << " " << H << "' width='" << W << "' height='" << H
    << "'><text x='10' y='16' class=ct>parallel coordinates (darker = better " << html_escape(h.metric)
    << "; red = best trial)</text>";
  if (use.empty()) return o.str() + "<text x='80' y='120'>no trial with a metric</text></svg>";
  // Axis ranges: parameters in their internal coordinates (log for log spaces), then the metric.
  std::vector<double> lo(n + 1, INFINITY), hi(n + 1, -INFINITY);
  for (size_t j = 0; j < n; ++j) {
    const auto& p = h.parameters[j];
    if (p.categorical()) {
      lo[j] = 0, hi[j] = std::max<double>(1, p.categories.size() - 1);
    } else {
      for (auto t : use) lo[j] = std::min(lo[j], t->internal[j]), hi[j] = std::max(hi[j], t->internal[j]);
    }
  }
  for (auto t : use) lo[n] = std::min(lo[n], t->metric), hi[n] = std::max(hi[n], t->metric);
  auto X = [&](size_t j) { return L + (W - L - R) * j / std::max<double>(1, n); };
  auto Y = [&](size_t j, double v) {
    double span = hi[j] - lo[j];
    return T + (H - T - B) * (1 - (span > 1e-12 ? (v - lo[j]) / span : 0.5));
  };
  auto coord = [&](const ParamSpace& p, double x) { return p.categorical() ? std::floor(x) : x; };
  // Worse trials first, so the best are drawn on top.
  std::sort(use.begin(), use.end(), [&](auto a, auto b) { return h.maximize() ? a->metric < b->metric : a->metric > b->metric; });
  for (size_t k = 0; k < use.size(); ++k) {
    const TrialRecord* t = use[k];
    double q = use.size() > 1 ? double(k) / (use.size() - 1) : 1;  // 1 = best
    std::string pts;
    for (size_t j = 0; j < n; ++j) pts += num(X(j), 1) + "," + num(Y(j, coord(h.parameters[j], t->internal[j])), 1) + " ";
    pts += num(X(n), 1) + "," + num(Y(n, t->metric), 1);
    const bool is_best = t->id == best_id;
    int shade = static_cast<int>(220 - 170 * q);
    char color[48];
    std::snprintf(color, sizeof color, "rgb(%d,%d,%d)", shade / 2, shade / 2 + 40, 255);
    o << "<polyline fill=none stroke='" << (is_best ? "#dc2626" : color) << "' stroke-width='" << (is_best ? 3 : 1.2)
      << "' opacity=0.85 points='" << pts << "'><title>trial " << t->id << ": " << num(t->metric) << "</title></polyline>";
  }
  for (size_t j = 0; j <= n; ++j) {
    o << "<line x1='" << X(j) << "' y1='" << T << "' x2='" << X(j) << "' y2='" << H - B << "' class=ax />";
    std::string name = j < n ? h.parameters[j].path : h.metric;
    o << "<text x='" << X(j) << "' y='" << H - B + 16 << "' class=tl text-anchor=middle>" << html_escape(name.substr(0, 28))
      << "</text>";
    if (j < n && h.parameters[j].categorical()) {
      const auto& p = h.parameters[j];
      for (size_t c = 0; c < p.categories.size(); ++c)
        o << "<text x='" << X(j) + 4 << "' y='" << Y(j, c) + 4 << "' class=tl>" << html_escape(label(p, c).substr(0, 16))
          << "</text>";
    } else {
      for (double v : {lo[j], hi[j]}) {
        std::string text = j < n ? label(h.parameters[j], v) : num(v, 4);
        if (j < n && !h.parameters[j].integer()) {
          double d;
          if (parse_double(text, d)) text = num(d, std::fabs(d) < 0.01 ? 5 : 3);
        }
        o << "<text x='" << X(j) + 4 << "' y='" << Y(j, v) + (v == lo[j] ? -4 : 12) << "' class=tl>" << html_escape(text)
          << "</text>";
      }
    }
  }
  return o.str() + "</svg>";
}

}  // namespace

std::vector<double> parameter_importance(const HyperoptSpec& h, const std::vector<TrialRecord>& trials) {
  const size_t n = h.parameters.size();
  std::vector<double> out(n, 0);
  std::vector<const TrialRecord*> use;
  for (const auto& t : trials)
    if (usable(t, n)) use.push_back(&t);
  if (use.size() < 3) return out;
  double mean = 0;
  for (auto t : use) mean += t->metric;
  mean /= use.size();
  double total = 0;
  for (auto t : use) total += (t->metric - mean) * (t->metric - mean);
  if (total <= 0) return out;
  for (size_t j = 0; j < n; ++j) {
    const auto& p = h.parameters[j];
    std::vector<int> group(use.size());
    if (p.categorical()) {
      for (size_t i = 0; i < use.size(); ++i) group[i] = static_cast<int>(std::floor(use[i]->internal[j]));
    } else {  // quartiles of the values tried
      std::vector<double> v;
      for (auto t : use) v.push_back(t->internal[j]);
      std::vector<double> sorted = v;
      std::sort(sorted.begin(), sorted.end());
      for (size_t i = 0; i < use.size(); ++i)
        group[i] = static_cast<int>(4.0 * (std::lower_bound(sorted.begin(), sorted.end(), v[i]) - sorted.begin()) / sorted.size());
    }
    std::map<int, std::pair<double, int>> g;
    for (size_t i = 0; i < use.size(); ++i) g[group[i]].first += use[i]->metric, g[group[i]].second += 1;
    double between = 0;
    for (const auto& [k, sc] : g) {
      double m = sc.first / sc.second;
      between += sc.second * (m - mean) * (m - mean);
    }
    out[j] = between / total;
  }
  double sum = 0;
  for (double v : out) sum += v;
  if (sum > 0)
    for (double& v : out) v /= sum;
  return out;
}

std::string hyperopt_report_html(const HyperoptSpec& h, const std::vector<TrialRecord>& trials, int64_t best_id,
                                 double budget_s, double elapsed_s, const RerankResult& rerank) {
  std::ostringstream o;
  std::map<std::string, int> counts;
  int64_t epochs = 0;
  for (const auto& t : trials) ++counts[to_string(t.status)], epochs += t.epochs;
  o << "<!doctype html><html><head><meta charset=utf-8><title>Kiln hyperopt report</title><style>"
       "body{font:14px system-ui,sans-serif;margin:24px auto;max-width:1180px;color:#111;padding:0 16px}"
       "h1{font-size:22px}h2{font-size:17px;margin-top:30px;border-bottom:1px solid #ddd;padding-bottom:4px}"
       ".cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #ddd;border-radius:8px;padding:8px 12px}"
       ".card b{display:block;font-size:18px}.muted{color:#666}"
       "table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}"
       "th{background:#f3f4f6}td:nth-child(3),th:nth-child(3){text-align:left}"
       ".chart{margin:6px 12px 6px 0}.ct{font-weight:600;font-size:13px}.tl{font-size:11px;fill:#333}"
       ".ax{stroke:#999}.bar{fill:#2563eb}.best{background:#fef2f2}"
       "</style></head><body><h1>Kiln hyperopt report</h1>";
  o << "<p class=muted>" << html_escape(h.goal) << " validation " << html_escape(h.metric) << " of "
    << html_escape(h.output_feature) << " · " << html_escape(h.search_alg) << " sampler · " << html_escape(h.scheduler)
    << " scheduler</p><div class=cards>";
  o << "<div class=card>trials<b>" << trials.size() << "</b><span class=muted>" << counts["completed"] << " completed, "
    << counts["pruned"] << " pruned, " << counts["stopped"] << " stopped, " << counts["failed"] << " failed</span></div>";
  o << "<div class=card>trial-epochs<b>" << epochs << "</b></div>";
  o << "<div class=card>time<b>" << num(elapsed_s, 1) << " s</b><span class=muted>budget " << num(budget_s, 0)
    << " s</span></div>";
  for (const auto& t : trials)
    if (t.id == best_id)
      o << "<div class=card>best trial " << t.id << "<b>" << num(t.metric) << "</b><span class=muted>epoch "
        << t.best_epoch << " of " << t.epochs << "</span></div>";
  o << "</div>";

  o << "<h2>Best score against time</h2>" << best_vs_time(h, trials, budget_s);
  o << "<h2>Parallel coordinates</h2>" << parallel_coordinates(h, trials, best_id);

  o << "<h2>Parameter importance</h2><p class=muted>share of the metric's variance across trials explained by "
       "each parameter's value (correlation ratio; numeric values in quartiles)</p><svg class=chart width=640 height='"
    << 24 * h.parameters.size() + 10 << "'>";
  auto imp = parameter_importance(h, trials);
  for (size_t j = 0; j < h.parameters.size(); ++j) {
    double y = 6 + 24 * j;
    o << "<text x=0 y='" << y + 13 << "' class=tl>" << html_escape(h.parameters[j].path.substr(0, 36)) << "</text><rect x=230 y='"
      << y << "' width='" << num(360 * imp[j], 1) << "' height=16 class=bar /><text x='" << num(236 + 360 * imp[j], 1)
      << "' y='" << y + 13 << "' class=tl>" << num(imp[j], 2) << "</text>";
  }
  o << "</svg>";

  o << "<h2>Re-ranking on folds</h2>";
  if (rerank.candidates.empty()) {
    o << "<p class=muted>not run: " << html_escape(rerank.skipped) << "</p>";
  } else {
    o << "<p class=muted>the best trials by validation, trained again on " << rerank.folds
      << " folds of the training + validation rows; the best fold mean chooses the model"
      << (rerank.chosen < 0 ? " (" + html_escape(rerank.skipped) + ": the validation best stands)" : "")
      << "</p><table><tr><th>trial</th><th>validation</th><th>fold mean</th><th>folds</th></tr>";
    for (int64_t id : rerank.candidates) {
      double validation = std::nan("");
      for (const auto& t : trials)
        if (t.id == id) validation = t.metric;
      std::string folds;
      if (rerank.scores.count(id))
        for (double v : rerank.scores.at(id)) folds += (folds.empty() ? "" : ", ") + num(v);
      o << "<tr" << (id == rerank.chosen ? " class=best" : "") << "><td>" << id << "</td><td>" << num(validation)
        << "</td><td>" << num(rerank.mean(id)) << "</td><td>" << folds << "</td></tr>";
    }
    o << "</table>";
  }

  o << "<h2>Leaderboard</h2><table><tr><th>rank</th><th>trial</th><th>status</th><th>" << html_escape(h.metric)
    << "</th><th>best epoch</th><th>epochs</th><th>seconds</th>";
  for (const auto& p : h.parameters) o << "<th>" << html_escape(p.path) << "</th>";
  o << "</tr>";
  std::vector<const TrialRecord*> r;
  for (const auto& t : trials) r.push_back(&t);
  auto better = [&](double a, double b) {
    if (!std::isfinite(a)) return false;
    if (!std::isfinite(b)) return true;
    return h.maximize() ? a > b : a < b;
  };
  std::stable_sort(r.begin(), r.end(), [&](auto a, auto b) { return better(a->metric, b->metric); });
  int rank = 0;
  for (auto t : r) {
    o << "<tr" << (t->id == best_id ? " class=best" : "") << "><td>" << ++rank << "</td><td>" << t->id << "</td><td>"
      << html_escape(to_string(t->status)) << (t->error.empty() ? "" : " (" + html_escape(t->error.substr(0, 80)) + ")")
      << "</td><td>" << num(t->metric) << "</td><td>" << t->best_epoch << "</td><td>" << t->epochs << "</td><td>"
      << num(t->seconds, 1) << "</td>";
    for (size_t j = 0; j < h.parameters.size(); ++j)
      o << "<td>" << (j < t->internal.size() ? html_escape(label(h.parameters[j], t->internal[j])) : "") << "</td>";
    o << "</tr>";
  }
  o << "</table></body></html>\n";
  return o.str();
}

}  // namespace kiln
