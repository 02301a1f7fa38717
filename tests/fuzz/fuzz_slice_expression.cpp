// libFuzzer target: the slice-expression parser, and evaluation of what it accepts over a small
// table whose columns hold numbers, text and missing values.
#include <cstddef>
#include <cstdint>
#include <string>

#include "data/table.h"
#include "fuzz_common.h"
#include "slices/expression.h"

namespace {
const kiln::Table& table() {
  static const kiln::Table t = [] {
    kiln::ReadOptions opts;
    return kiln::read_csv_text(
        "a,b,Age,Department,x.y,c\n"
        "1,foo,30,Sales,1e3,\n"
        "2,bar,,R&D,-2.5,x\n"
        ",baz qux,45,Sales,nan,\"a,b\"\n"
        "-7,,19,HR,0,yes\n",
        "fuzz_table.csv", ',', opts);
  }();
  return t;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  kiln::fuzz::expect_only_kiln_errors([&] {
    kiln::SliceExpression e;
    try {
      e = kiln::SliceExpression::parse(text);
    } catch (const kiln::SliceSyntaxError& err) {
      if (err.position() > text.size())
        kiln::fuzz::finding("syntax error position past the end", err.what(), text);
      return;
    }
    auto mask = e.evaluate(table());
    if (mask.size() != table().num_rows()) kiln::fuzz::finding("mask size", "", text);
    for (auto m : mask)
      if (m > 1) kiln::fuzz::finding("mask value", "", text);
  });
  return 0;
}
