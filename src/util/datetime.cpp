#include "util/datetime.h"

namespace kiln {
namespace {

bool parse_with(const std::string& text, const std::string& format, std::tm& tm) {
  tm = std::tm{};
  const char* begin = text.c_str();
  while (*begin == ' ') ++begin;
  const char* end = strptime(begin, format.c_str(), &tm);
  if (!end) return false;
  while (*end == ' ') ++end;
  if (*end != 0) return false;
  // Normalise and fill weekday and yearday (UTC: no time zone in play).
  std::tm copy = tm;
  time_t t = timegm(&copy);
  std::tm out{};
  if (!gmtime_r(&t, &out)) return false;
  if (out.tm_mday != tm.tm_mday || out.tm_mon != tm.tm_mon) return false;  // 31 February
  tm = out;
  return true;
}

}  // namespace

const std::vector<std::string>& common_datetime_formats() {
  static const std::vector<std::string> f = {
      "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M",
      "%Y-%m-%d", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y",
      "%d.%m.%Y", "%Y%m%d", "%d %B %Y", "%B %d, %Y", "%b %d %Y"};
  return f;
}

bool parse_datetime(const std::string& text, const std::string& format, std::tm& tm) {
  if (!format.empty()) return parse_with(text, format, tm);
  for (const auto& f : common_datetime_formats())
    if (parse_with(text, f, tm)) return true;
  return false;
}

}  // namespace kiln
