#include "config/yaml_io.h"

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
    if (!ok)
      error(it->first, path_.empty() ? "config" : path_,
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
    for (const auto& p : opts->problems()) error(v, path + "." + p.substr(0, p.find(':')), p.substr(p.find(':') + 2));
  out.options = std::move(opts);
}

}  // namespace kiln
