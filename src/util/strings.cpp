#include "util/strings.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace kiln {

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (std::tolower(a[i - 1]) == std::tolower(b[j - 1]) ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string suggest(std::string_view bad, const std::vector<std::string>& candidates) {
  if (candidates.empty()) return "";
  size_t best = SIZE_MAX;
  const std::string* best_name = nullptr;
  for (const auto& c : candidates) {
    size_t d = edit_distance(bad, c);
    // A long shared prefix ("categorical" / "category") is as telling as a small distance.
    size_t prefix = 0;
    while (prefix < bad.size() && prefix < c.size() &&
           std::tolower(bad[prefix]) == std::tolower(c[prefix]))
      ++prefix;
    if (prefix >= std::min<size_t>(5, bad.size()) && prefix >= 3) d = std::min(d, size_t{1});
    if (d < best) best = d, best_name = &c;
  }
  size_t limit = std::max<size_t>(2, bad.size() / 3);
  if (best_name && best <= limit) return "; did you mean '" + *best_name + "'?";
  return "; expected one of: " + join(candidates, ", ");
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

static inline bool is_space(char c) {  // ASCII only: no locale lookup in the hot path
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

static bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
  return true;
}

bool parse_double(std::string_view s, double& out) {
  s = trim(s);
  if (s.empty()) return false;
  if (s.front() == '+') s.remove_prefix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec == std::errc() && p == s.data() + s.size()) return true;
  // Spellings people write for special values (no allocation: this runs on every text cell).
  bool neg = !s.empty() && s.front() == '-';
  std::string_view body = neg ? s.substr(1) : s;
  if (iequals(body, "nan")) return out = std::nan(""), true;
  if (iequals(body, "inf") || iequals(body, "infinity")) return out = neg ? -HUGE_VAL : HUGE_VAL, true;
  return false;
}

bool parse_int(std::string_view s, int64_t& out) {
  s = trim(s);
  if (s.empty()) return false;
  if (s.front() == '+') s.remove_prefix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string format_double(double v) {
  char buf[32];
  for (int prec = 6; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

}  // namespace kiln
