#pragma once
// Dates and times as Ludwig reads them: strptime codes (as Python's), else the first of a few
// common formats that fits the whole text. Shared by the date feature and the datetime split.
#include <ctime>
#include <string>
#include <vector>

namespace kiln {

// The formats tried, in order, when no datetime_format is given.
const std::vector<std::string>& common_datetime_formats();

// Parses the whole text (surrounding spaces allowed) with `format`, or with the first common
// format that fits when `format` is empty, into tm (UTC; weekday and yearday filled). False when
// none fits or the date does not exist (31 February).
bool parse_datetime(const std::string& text, const std::string& format, std::tm& tm);

}  // namespace kiln
