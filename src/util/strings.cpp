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

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> out(1);
  for (char c : text) {
    if (c == sep) out.emplace_back();
    else out.back() += c;
  }
  return out;
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
  // "%.*g" with the fewest digits (at least 6) that read back as v. The digits the shortest
  // round-trip form needs (std::to_chars, scientific) give that precision at once, nearly always;
  // printing with it is what printf prints (to_chars with a precision is specified as printf's
  // %g). Searching precisions with snprintf + strtod from 6 up took up to 12 tries per number.
  char buf[40];
  if (!std::isfinite(v)) {
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
  }
  auto shortest = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  int digits = 0;
  for (const char* p = buf; p < shortest.ptr && *p != 'e'; ++p) digits += *p >= '0' && *p <= '9';
  // Rounding to that many digits can still miss v where the spacing of doubles changes (just
  // below a power of two, e.g. 2^-24): then one more digit, as the search did.
  for (int prec = std::max(6, digits);; ++prec) {
    auto out = std::to_chars(buf, buf + sizeof buf - 1, v, std::chars_format::general, prec);
    *out.ptr = '\0';
    if (prec >= 17 || std::strtod(buf, nullptr) == v) return std::string(buf, out.ptr);
  }
}

namespace {
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}  // namespace

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int k = 3; k >= 0; --k) out += kB64[(v >> (6 * k)) & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += i + 1 < in.size() ? kB64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool base64_decode(std::string_view in, std::string& out) {
  int8_t lut[256];
  std::fill(std::begin(lut), std::end(lut), int8_t(-1));
  for (int k = 0; k < 64; ++k) lut[uint8_t(kB64[k])] = static_cast<int8_t>(k);
  if (in.size() % 4) return false;
  out.clear();
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = in[i + k];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        ++pad;
        v <<= 6;
        continue;
      }
      if (pad || lut[uint8_t(c)] < 0) return false;
      v = (v << 6) | uint32_t(lut[uint8_t(c)]);
    }
    out += char((v >> 16) & 255);
    if (pad < 2) out += char((v >> 8) & 255);
    if (pad < 1) out += char(v & 255);
  }
  return true;
}

int parse_auto_bool(std::string_view s) {
  const std::string v = to_lower(s);
  if (v == "auto") return -1;
  if (v == "true" || v == "yes" || v == "on" || v == "y") return 1;
  if (v == "false" || v == "no" || v == "off" || v == "n") return 0;
  return -2;
}

namespace {
void append_csv_field(std::string& out, std::string_view v) {
  if (v.find_first_of(",\"\n\r") == std::string_view::npos) {
    out += v;
    return;
  }
  out += '"';
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}
}  // namespace

std::string csv_field(std::string_view v) {
  std::string out;
  append_csv_field(out, v);
  return out;
}

std::string csv_text(const std::vector<std::string>& header,
                     const std::vector<const std::vector<std::string>*>& columns, size_t rows) {
  std::string text;
  for (size_t i = 0; i < header.size(); ++i) {
    if (i) text += ',';
    append_csv_field(text, header[i]);
  }
  text += '\n';
  for (size_t r = 0; r < rows; ++r) {
    for (size_t i = 0; i < columns.size(); ++i) {
      if (i) text += ',';
      append_csv_field(text, (*columns[i])[r]);
    }
    text += '\n';
  }
  return text;
}

}  // namespace kiln
