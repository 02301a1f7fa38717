#include "config/yaml_io.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "config/ludwig_compat.h"
#include "util/strings.h"

namespace kiln {

std::string yaml_where(const std::string& file, const YAML::Node& n) {
  auto m = n.Mark();
  if (m.line < 0) return file;
  return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

std::string scalar_text(const YAML::Node& n) {
  if (n.IsScalar()) return "'" + n.Scalar() + "'";
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a mapping";
  return "nothing";
}

void YamlReader::finish(const std::string& what) {
  if (!node_.IsMap()) return;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (!it->first.IsScalar()) {
      error(it->first, path_.empty() ? "config" : path_, "expected a key name, got " + scalar_text(it->first));
      continue;
    }
    const std::string key = it->first.Scalar();
    bool ok = false;
    for (const auto& k : known_) ok = ok || k == key;
    if (ok) continue;
    // A key moved by an upgrade (ludwig_compat.h) has no line of its own; its value has.
    const YAML::Node at = it->first.Mark().line < 0 ? it->second : it->first;
    if (std::string m = not_in_kiln_message("key", child(key)); !m.empty())
      error(at, path_.empty() ? "config" : path_, m);
    else
      error(at, path_.empty() ? "config" : path_,
            "unknown key '" + key + "'" + (what.empty() ? "" : " for " + what) +
                suggest(key, known_));
  }
}

std::string YamlWriter::double_text(double v) { return format_double(v); }

}  // namespace kiln

namespace kiln {

void YamlReader::read_typed(const YAML::Node& v, TypedOptions& out, const std::string& path) {
  if (!v.IsMap()) {
    error(v, path, "expected a mapping with a 'type' key, got " + scalar_text(v));
    return;
  }
  const YAML::Node& cv = v;
  YAML::Node t = cv["type"];
  if (t) {
    if (!t.IsScalar()) {
      error(t, path + ".type", "expected a name, got " + scalar_text(t));
      return;
    }
    out.type = t.Scalar();
  }
  std::vector<std::string> candidates;
  auto opts = out.factory ? out.factory(out.type, candidates) : nullptr;
  if (!opts) {
    if (std::string m = not_in_kiln_message(out.what, out.type); !m.empty())
      return error(t ? t : v, path + ".type", m);
    error(t ? t : v, path + ".type",
          "unknown " + out.what + " '" + out.type + "'" + out.context +
              suggest(out.type, candidates));
    return;
  }
  YamlReader sub(file_, v, path, errors_);
  sub.mark_known("type");
  size_t before = errors_->size();
  opts->read(sub);
  sub.finish(out.what + " '" + out.type + "'");
  if (errors_->size() == before)
    report(v, path, opts->problems());
  out.options = std::move(opts);
}

}  // namespace kiln

namespace kiln {

Limit in_range(double lo, double hi, bool lo_open, bool hi_open) {
  Limit l;
  l.lo = lo, l.hi = hi, l.lo_open = lo_open, l.hi_open = hi_open;
  return l;
}
Limit at_least(double lo) { return in_range(lo, std::numeric_limits<double>::infinity()); }
Limit above(double lo) { return in_range(lo, std::numeric_limits<double>::infinity(), true, false); }

std::string Limit::text() const {
  if (!expected.empty()) return expected;
  if (std::isinf(hi)) {
    if (!lo_open) return "at least " + format_double(lo);
    return lo == 0 ? "a positive number" : "a number above " + format_double(lo);
  }
  return std::string("a value in ") + (lo_open ? "(" : "[") + format_double(lo) + ", " + format_double(hi) +
         (hi_open ? ")" : "]");
}

std::string Limit::problem(double v) const {
  const bool ok = (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
  if (ok) return "";
  if (!expected.empty()) return "expected " + expected;
  return "expected " + text() + ", got " + format_double(v);
}

OneOf one_of_names(std::function<std::vector<std::string>()> values, std::string noun) {
  OneOf o;
  o.values = std::move(values);
  o.noun = std::move(noun);
  return o;
}
OneOf one_of(std::vector<std::string> values, std::string noun) {
  return one_of_names([v = std::move(values)] { return v; }, std::move(noun));
}

OneOfNumbers one_of_numbers(std::vector<double> values) {
  OneOfNumbers o;
  o.values = std::move(values);
  return o;
}

std::string OneOfNumbers::text() const {
  if (!expected.empty()) return expected;
  std::string t;
  for (size_t i = 0; i < values.size(); ++i)
    t += (i == 0 ? "" : i + 1 == values.size() ? " or " : ", ") + format_double(values[i]);
  return t;
}

std::string OneOfNumbers::problem(double v) const {
  if (std::find(values.begin(), values.end(), v) != values.end()) return "";
  return "expected " + text() + (expected.empty() ? ", got " + format_double(v) : "");
}

OneOf auto_bool() {
  OneOf o = one_of({"true", "false", "auto"});
  o.accepts = [](const std::string& v) { return parse_auto_bool(v) != -2; };
  o.expected = "true, false or auto";
  return o;
}

std::string OneOf::problem(const std::string& v) const {
  const std::vector<std::string> allowed = values();
  if (accepts ? accepts(v) : std::find(allowed.begin(), allowed.end(), v) != allowed.end()) return "";
  if (std::string m = not_in_kiln_message(noun, v); !m.empty()) return m;
  if (expected.empty()) return "unknown " + noun + " '" + v + "'" + suggest(v, allowed);
  const std::string hint = suggest(v, allowed);
  return "expected " + expected + ", got '" + v + "'" + (hint.rfind("; did you mean", 0) == 0 ? hint : "");
}

std::string OneOf::text() const { return expected.empty() ? "one of " + join(values(), ", ") : expected; }

void YamlReader::report(const YAML::Node& at, const std::string& path, const std::vector<std::string>& problems) {
  for (const auto& p : problems) {
    // "key: message" names a key of the mapping (reported at its value when written there);
    // any other message is about the mapping as a whole.
    const size_t colon = p.find(": ");
    const std::string key = colon == std::string::npos ? "" : p.substr(0, colon);
    const bool keyed = !key.empty() && key.find_first_not_of(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.[]") == std::string::npos;
    if (!keyed) {
      error(at, path, p);
      continue;
    }
    YAML::Node where = at;
    if (at.IsMap() && key.find_first_of(".[") == std::string::npos) {
      const YAML::Node& cat = at;
      if (YAML::Node v = cat[key]) where.reset(v);
    }
    error(where, path + "." + key, p.substr(colon + 2));
  }
}

}  // namespace kiln
