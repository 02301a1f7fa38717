// libFuzzer target: the JSON Lines reader.
#include <cstddef>
#include <cstdint>
#include <string>

#include "data/table.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const kiln::ReadOptions opts = kiln::fuzz::read_options();
  std::string text(reinterpret_cast<const char*>(data), size);
  kiln::fuzz::expect_only_kiln_errors([&] {
    kiln::Table t = kiln::read_jsonl_text(text, "fuzz.jsonl", opts);
    kiln::fuzz::check_table(t);
  });
  return 0;
}
