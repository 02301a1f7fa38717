#pragma once
// RapidJSON helpers: a Writer wrapper that writes doubles the way Python's json does (NaN → null).
// Include this before any RapidJSON header: it makes RapidJSON's internal checks (a missing
// member, a wrong type) throw instead of aborting, so a corrupt file gives an error, not a crash.
#include <stdexcept>
#ifndef RAPIDJSON_ASSERT
#define RAPIDJSON_ASSERT(x) \
  do {                      \
    if (!(x)) throw std::runtime_error("unexpected JSON structure (" #x ")"); \
  } while (0)
#endif
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

namespace kiln {

using JsonWriter = rapidjson::PrettyWriter<rapidjson::StringBuffer>;
// One line, no spaces: HTTP responses.
using CompactJsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

template <class Writer>
inline void json_double(Writer& w, double v) {
  if (std::isfinite(v))
    w.Double(v);
  else
    w.Null();
}

template <class Writer>
inline void json_key(Writer& w, const std::string& k) {
  w.Key(k.c_str(), static_cast<rapidjson::SizeType>(k.size()));
}

template <class Writer>
inline void json_string(Writer& w, const std::string& s) {
  w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
}

}  // namespace kiln
