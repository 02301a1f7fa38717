#pragma once
#include <string>

namespace kiln {

// A report of one training run, from the files in its output directory (description.json,
// training_statistics.json, test_statistics.json): format "text" (terminal tables) or "json".
std::string render_report(const std::string& output_directory, const std::string& format);
// One self-contained HTML file (inline SVG charts, no external URL).
std::string render_html_report(const std::string& output_directory);
// HTML text escaping shared by the HTML reports.
std::string html_escape(const std::string& s);

}  // namespace kiln
