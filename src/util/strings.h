#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

// Edit distance, for "did you mean" suggestions.
size_t edit_distance(std::string_view a, std::string_view b);

// "; did you mean 'x'?" when a candidate is close, else "; expected one of: a, b, c".
std::string suggest(std::string_view bad, const std::vector<std::string>& candidates);

std::string join(const std::vector<std::string>& parts, std::string_view sep);
// The fields of `text` between separators ("a.b" → {"a", "b"}; "" → {""}).
std::vector<std::string> split(std::string_view text, char sep);
std::string to_lower(std::string_view s);
std::string_view trim(std::string_view s);

// Strict number parsing of a whole field (surrounding spaces allowed). Returns false if the text
// is not a number.
bool parse_double(std::string_view s, double& out);
// A switch that may also be left to Kiln: "auto", or a YAML boolean in any of its spellings
// (true/false, yes/no, on/off, y/n, any case). Returns 1 (on), 0 (off), -1 (auto), -2 (neither).
int parse_auto_bool(std::string_view s);
bool parse_int(std::string_view s, int64_t& out);

// RFC 4648 base64, for binary blobs inside JSON. decode returns false on malformed input.
std::string base64_encode(std::string_view bytes);
bool base64_decode(std::string_view text, std::string& out);

// A CSV field (RFC 4180): quoted, with quotes doubled, when it holds a separator, quote or newline.
std::string csv_field(std::string_view v);
// A CSV file's text: the header, then `rows` rows of the columns' values.
std::string csv_text(const std::vector<std::string>& header,
                     const std::vector<const std::vector<std::string>*>& columns, size_t rows);

// Shortest round-trippable text of a double ("0.1", "3", "1e-05").
std::string format_double(double v);

}  // namespace kiln
