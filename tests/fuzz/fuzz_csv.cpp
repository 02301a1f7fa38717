// libFuzzer target: the CSV/TSV reader. Any input must either parse into a consistent Table or be
// refused with a DataError; anything else (a crash, another exception, a sanitizer report) is a
// finding. Each input is read as CSV and as TSV.
#include <cstddef>
#include <cstdint>
#include <string>

#include "data/table.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const kiln::ReadOptions opts = kiln::fuzz::read_options();
  for (char sep : {',', '\t'}) {
    std::string text(reinterpret_cast<const char*>(data), size);
    kiln::fuzz::expect_only_kiln_errors([&] {
      kiln::Table t = kiln::read_csv_text(std::move(text), "fuzz.csv", sep, opts);
      kiln::fuzz::check_table(t);
    });
  }
  return 0;
}
