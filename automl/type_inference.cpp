#include "automl/type_inference.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <unordered_map>

#include "config/config.h"
#include "config/schema.h"
#include "data/table.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strings.h"

namespace kiln {
namespace {

bool boolean_spelling(const std::string& v) {
  static const std::set<std::string> s = {"true", "false", "yes", "no", "y",   "n",  "t",
                                          "f",    "1",     "0",  "1.0", "0.0", "on", "off"};
  return s.count(to_lower(v)) > 0;
}

bool image_path(std::string_view v) {
  std::string l = to_lower(v);
  for (const char* ext : {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}) {
    std::string e(ext);
    if (l.size() > e.size() && l.compare(l.size() - e.size(), e.size(), e) == 0) return true;
  }
  return false;
}

bool date_like(std::string_view v) {  // 2024-01-31, 2024/01/31, optionally with a time
  if (v.size() < 8 || v.size() > 30) return false;
  int digits = 0, seps = 0;
  for (size_t i = 0; i < 10 && i < v.size(); ++i) {
    if (std::isdigit(static_cast<unsigned char>(v[i]))) ++digits;
    else if (v[i] == '-' || v[i] == '/') ++seps;
  }
  return digits == 8 && seps == 2 && (v[4] == '-' || v[4] == '/');
}

ColumnGuess guess(const Table& t, const Column& c, const std::string& csv_dir) {
  ColumnGuess g;
  g.column = c.name;
  const size_t n = t.num_rows();
  std::unordered_map<std::string_view, int64_t> counts;
  size_t present = 0, numeric = 0, images = 0, dates = 0, integral = 0;
  double tokens = 0;
  for (size_t r = 0; r < n; ++r) {
    if (Table::missing(c, r)) continue;
    ++present;
    std::string_view v = trim(t.cell(c, r));
    if (counts.size() <= 100000) counts[v]++;
    double x;
    if (parse_double(v, x) && std::isfinite(x)) ++numeric, integral += x == std::floor(x);
    if (image_path(v)) ++images;
    if (date_like(v)) ++dates;
    size_t words = 1;
    for (char ch : v) words += ch == ' ';
    tokens += static_cast<double>(words);
  }
  const size_t distinct = counts.size();
  const double avg_tokens = present ? tokens / present : 0;
  auto pct = [&](size_t k) { return present ? 100.0 * k / present : 0.0; };
  if (present == 0) return g.reason = "every value is missing", g;
  if (distinct <= 1) return g.reason = "one distinct value (constant)", g;
  if (distinct == 2) {
    std::vector<std::pair<std::string_view, int64_t>> v(counts.begin(), counts.end());
    std::sort(v.begin(), v.end());
    g.type = "binary";
    g.reason = "two distinct values ('" + std::string(v[0].first) + "', '" + std::string(v[1].first) + "')";
    if (!boolean_spelling(std::string(v[0].first)) || !boolean_spelling(std::string(v[1].first))) {
      // The rarer value is the positive class (ties: the later one in sorted order).
      auto pos = v[0].second < v[1].second ? v[0].first : v[1].first;
      g.fallback_true_label = std::string(pos);
      g.reason += "; '" + g.fallback_true_label + "' (the rarer) reads as true";
    }
    return g;
  }
  if (numeric == present) {
    g.type = "number";
    g.reason = "every value is a number (" + std::to_string(distinct) + " distinct)";
    return g;
  }
  if (images * 10 >= present * 9) {
    std::string first;
    for (size_t r = 0; r < n && first.empty(); ++r)
      if (!Table::missing(c, r)) first = std::string(trim(t.cell(c, r)));
    std::string path = first.size() && first[0] == '/' ? first : path_join(csv_dir, first);
    if (file_exists(path)) {
      g.type = "image";
      g.reason = "image file paths (" + format_double(std::round(pct(images))) + "%), e.g. " + first;
      return g;
    }
  }
  if (dates * 10 >= present * 9) {
    g.type = "date";
    g.reason = "date-like values (" + format_double(std::round(pct(dates))) + "%)";
    return g;
  }
  if (distinct == present && avg_tokens < 2) {
    g.reason = "a different value in every row (identifier)";
    return g;
  }
  if (avg_tokens >= 5 || distinct * 2 > present) {
    g.type = "text";
    g.reason = avg_tokens >= 5 ? "free text (" + format_double(std::round(avg_tokens)) + " words on average)"
                               : "mostly distinct strings (" + std::to_string(distinct) + " of " +
                                     std::to_string(present) + ")";
    return g;
  }
  g.type = "category";
  g.reason = std::to_string(distinct) + " distinct values in " + std::to_string(present) + " rows";
  return g;
}

}  // namespace

InferredConfig infer_config(const std::string& dataset, const std::string& target,
                            const std::string& user_yaml, const std::string& user_file) {
  // The header, to know every column.
  std::string text = read_file(dataset);
  std::vector<std::string> names;
  {
    ReadOptions probe;
    std::string l = to_lower(dataset);
    bool jsonl = l.size() > 5 && (l.rfind(".jsonl") == l.size() - 6 || l.rfind(".json") == l.size() - 5);
    if (jsonl) throw DataError(dataset + ": init_config reads CSV/TSV files (JSON Lines: convert first)");
    char sep = (l.size() > 4 && l.rfind(".tsv") == l.size() - 4) ? '\t' : ',';
    size_t start = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
    size_t end = text.find('\n', start);
    std::string header = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!header.empty() && header.back() == '\r') header.pop_back();
    size_t a = 0;
    while (a <= header.size()) {
      size_t b = header.find(sep, a);
      if (b == std::string::npos) b = header.size();
      std::string name(trim(std::string_view(header).substr(a, b - a)));
      if (name.size() >= 2 && name.front() == '"' && name.back() == '"') name = name.substr(1, name.size() - 2);
      names.push_back(name);
      a = b + 1;
    }
  }
  if (std::find(names.begin(), names.end(), target) == names.end())
    throw DataError(dataset + ": target column '" + target + "' not found" + suggest(target, names));
  ReadOptions ro;
  ro.columns = names;
  ro.threads = 2;
  Table t = parse_table(std::move(text), dataset, ro);
  InferredConfig out;
  out.target = target;
  const std::string dir = parent_dir(dataset);
  YAML::Node user;
  if (!user_yaml.empty()) {
    try {
      user = YAML::Load(user_yaml);
    } catch (const YAML::Exception& e) {
      throw ConfigError(user_file + ":" + std::to_string(e.mark.line + 1) + ":" +
                        std::to_string(e.mark.column + 1) + ": malformed YAML: " + e.msg);
    }
  }
  auto user_feature = [&](const char* list, const std::string& name) -> YAML::Node {
    if (!user || !user.IsMap() || !user[list] || !user[list].IsSequence()) return YAML::Node();
    for (const auto& f : user[list])
      if (f.IsMap() && f["name"] && f["name"].Scalar() == name) return f;
    return YAML::Node();
  };

  // Label leaks: a column with few distinct values of which each goes with one target value in
  // every row determines the target exactly (e.g. the folder a file came from). A model would
  // learn that column and nothing else, so it is excluded unless the user config names it.
  std::map<std::string, std::string> leaks;
  {
    const Column& y = t.get(target);
    std::map<std::string_view, int> target_values;
    for (size_t r = 0; r < t.num_rows(); ++r)
      if (!Table::missing(y, r)) target_values[trim(t.cell(y, r))]++;
    if (target_values.size() >= 2 && target_values.size() <= 50) {
      for (const auto& c : t.columns) {
        if (c.name == target || c.name == "split") continue;
        std::map<std::string_view, std::string_view> label_of;
        size_t rows = 0;
        bool pure = true;
        for (size_t r = 0; r < t.num_rows() && pure; ++r) {
          if (Table::missing(c, r) || Table::missing(y, r)) continue;
          ++rows;
          auto v = trim(t.cell(c, r)), l = trim(t.cell(y, r));
          auto it = label_of.emplace(v, l).first;
          pure = it->second == l;
        }
        if (pure && label_of.size() >= 2 && rows >= 20 && label_of.size() * 10 <= rows)
          leaks[c.name] = std::to_string(label_of.size()) + " values, each with a single " + target +
                          " in all " + std::to_string(rows) + " rows: it gives the label away (a leak); "
                          "excluded (name it in --config to keep it)";
      }
    }
  }

  YAML::Emitter e;
  YAML::Node inputs(YAML::NodeType::Sequence), outputs(YAML::NodeType::Sequence);
  for (const auto& c : t.columns) {
    ColumnGuess g;
    if (c.name == "split") {
      bool fixed = true;
      for (size_t r = 0; r < t.num_rows() && fixed; ++r) {
        auto v = trim(t.cell(c, r));
        fixed = v == "0" || v == "1" || v == "2";
      }
      if (fixed) {
        out.has_split_column = true;
        out.columns.push_back({c.name, "", "values 0/1/2: the fixed training/validation/test split", ""});
        continue;
      }
    }
    g = guess(t, c, dir);
    const bool is_target = c.name == target;
    YAML::Node over = user_feature(is_target ? "output_features" : "input_features", c.name);
    const bool overridden = over.IsMap();
    if (overridden) {
      g.type = over["type"] ? over["type"].Scalar() : g.type;
      g.reason = "set by " + user_file;
    } else if (!is_target && leaks.count(c.name)) {
      g.type.clear();
      g.reason = leaks[c.name];
    }
    out.columns.push_back(g);
    if (g.type.empty()) continue;
    const FeatureSchema* schema = feature_schemas().find(g.type);
    if (is_target && (!schema || !schema->automl_target))
      throw DataError(dataset + ": target '" + target + "' looks like " + g.type + " (" + g.reason +
                      "); init_config predicts binary, category or number targets");
    YAML::Node f = overridden ? YAML::Clone(over) : YAML::Node(YAML::NodeType::Map);
    if (!overridden) {
      f["name"] = c.name;
      f["type"] = g.type;
      if (!g.fallback_true_label.empty()) f["preprocessing"]["fallback_true_label"] = g.fallback_true_label;
      if (!is_target && schema && !schema->automl_missing_value_strategy.empty())
        f["preprocessing"]["missing_value_strategy"] = schema->automl_missing_value_strategy;
    }
    (is_target ? outputs : inputs).push_back(f);
  }
  if (outputs.size() == 0)
    throw DataError(dataset + ": target '" + target + "' is excluded: " + out.columns.back().reason);
  if (inputs.size() == 0) throw DataError(dataset + ": no usable input columns");
  YAML::Node cfg(YAML::NodeType::Map);
  cfg["input_features"] = inputs;
  cfg["output_features"] = outputs;
  if (out.has_split_column) {
    cfg["preprocessing"]["split"]["type"] = "fixed";
    cfg["preprocessing"]["split"]["column"] = "split";
  } else {
    // 70/10/20 with a fixed seed, stratified for classification targets.
    const std::string tt = outputs[0]["type"].Scalar();
    cfg["preprocessing"]["split"]["type"] = tt == "number" ? "random" : "stratify";
    if (tt != "number") cfg["preprocessing"]["split"]["column"] = target;
    YAML::Node p(YAML::NodeType::Sequence);
    p.push_back("0.7"), p.push_back("0.1"), p.push_back("0.2");  // plain scalars, as written
    cfg["preprocessing"]["split"]["probabilities"] = p;
  }
  if (user && user.IsMap())
    for (auto it = user.begin(); it != user.end(); ++it) {
      const std::string k = it->first.Scalar();
      if (k != "input_features" && k != "output_features") cfg[k] = it->second;
    }
  e << cfg;
  out.yaml = std::string("# Inferred by `kiln init_config` from ") + dataset + "; target " + target + ".\n" +
             e.c_str() + "\n";
  // The result must be a valid config for this build (feature types not built yet are named in
  // unsupported_types instead).
  std::set<std::string> unknown;
  for (const auto& g : out.columns)
    if (!g.type.empty() && !feature_schemas().find(g.type)) unknown.insert(g.type);
  out.unsupported_types.assign(unknown.begin(), unknown.end());
  if (unknown.empty()) (void)parse_config(out.yaml, "init_config output");
  return out;
}

}  // namespace kiln
