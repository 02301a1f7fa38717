#include "util/json.h"  // first: configures RapidJSON
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include "data/table.h"
#include "util/error.h"
#include "util/fs.h"

namespace kiln {

// JSON Lines: one object per line; strings, numbers (kept as written) and booleans become cell
// text; null or an absent key is a missing value.
Table read_jsonl_text(const std::string& text, const std::string& source,
                      const ReadOptions& options) {
  Table t;
  t.source = source;
  t.content_hash = hash_bytes(text.data(), text.size());
  for (const auto& name : options.columns) t.columns.push_back(Column{name, {}});
  const size_t required = t.columns.size();
  for (const auto& name : options.optional_columns) t.columns.push_back(Column{name, {}});
  std::vector<bool> seen(t.columns.size(), false);
  size_t pos = 0;
  uint32_t line = 0;
  std::string line_text;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    ++line;
    line_text.assign(text, pos, nl - pos);
    pos = nl + 1;
    if (!line_text.empty() && line_text.back() == '\r') line_text.pop_back();
    if (line_text.find_first_not_of(" \t") == std::string::npos) continue;
    rapidjson::Document d;
    // Iterative parsing: a line of deeply nested arrays must not exhaust the stack.
    d.Parse<rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseIterativeFlag>(line_text.c_str(),
                                                                                   line_text.size());
    if (d.HasParseError())
      throw DataError(source + ":" + std::to_string(line) + ":" +
                      std::to_string(d.GetErrorOffset() + 1) + ": invalid JSON: " +
                      rapidjson::GetParseError_En(d.GetParseError()));
    if (!d.IsObject())
      throw DataError(source + ":" + std::to_string(line) + ": expected a JSON object per line");
    t.lines.push_back(line);
    for (size_t c = 0; c < t.columns.size(); ++c) {
      Cell cell{static_cast<uint32_t>(t.buffer.size()), 0};
      auto it = d.FindMember(t.columns[c].name.c_str());
      if (it != d.MemberEnd()) {
        const auto& v = it->value;
        std::string s;
        if (v.IsString()) {
          s.assign(v.GetString(), v.GetStringLength());
        } else if (v.IsBool()) {
          s = v.GetBool() ? "true" : "false";
        } else if (!v.IsNull()) {
          throw DataError(source + ":" + std::to_string(line) + ": key '" + t.columns[c].name +
                          "': expected a string, number, boolean or null");
        }
        seen[c] = true;
        t.buffer += s;
        cell.length = static_cast<uint32_t>(s.size());
      }
      t.columns[c].cells.push_back(cell);
    }
  }
  if (t.lines.empty()) throw DataError(source + ": the file is empty (expected JSON objects)");
  for (size_t c = 0; c < required; ++c)
    if (!seen[c])
      throw DataError(source + ": column '" + t.columns[c].name + "' not found in any row");
  for (size_t c = t.columns.size(); c-- > required;)  // absent optional columns are dropped
    if (!seen[c]) t.columns.erase(t.columns.begin() + static_cast<long>(c));
  return t;
}

}  // namespace kiln
