#pragma once
// Shared by the fuzz targets: the only acceptable way to refuse an input is a KilnError (the
// typed errors main() turns into one line and an exit code). Any other exception is a finding:
// abort so libFuzzer saves the input.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "config/schema.h"
#include "data/table.h"
#include "util/error.h"

namespace kiln::fuzz {

[[noreturn]] inline void finding(const char* what, const std::string& detail, const std::string& input) {
  std::fprintf(stderr, "FUZZ FINDING: %s\n  detail: %s\n  input: %s\n", what, detail.c_str(),
               input.substr(0, 2000).c_str());
  std::abort();
}

inline void init() {
  static const bool done = [] {
    register_builtins();
    return true;
  }();
  (void)done;
}

template <class F>
void expect_only_kiln_errors(F&& f) {
  try {
    f();
  } catch (const KilnError&) {
  } catch (const std::exception& e) {
    finding("an exception other than KilnError escaped", e.what(), "");
  }
}

// The columns the readers keep when present: the names the seed corpora use.
inline ReadOptions read_options() {
  ReadOptions o;
  o.optional_columns = {"a", "b", "c", "x", "y", "name", "text", "label", "age", "dept", "left",
                        "salary", "image", "when", "v", "species", "Attrition", "Age"};
  return o;
}

// Every row has a cell in every column, every cell lies inside the buffer, and every row has a
// line number.
inline void check_table(const Table& t) {
  for (const auto& c : t.columns) {
    if (c.cells.size() != t.num_rows()) finding("column length differs from the row count", c.name, "");
    for (const auto& cell : c.cells)
      if (uint64_t(cell.offset) + cell.length > t.buffer.size()) finding("cell outside the buffer", c.name, "");
  }
  for (size_t r = 0; r < t.num_rows(); ++r) (void)t.where(r);
}

}  // namespace kiln::fuzz
