// libFuzzer target: the YAML config loader through validation. An accepted config must print
// (config_to_yaml) to a config that is accepted again and prints the same. parse_config reads the
// hyperopt block too, so the search space's checks are fuzzed with the rest.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kiln::fuzz::init();
  std::string text(reinterpret_cast<const char*>(data), size);
  kiln::fuzz::expect_only_kiln_errors([&] {
    kiln::Config c = kiln::parse_config(text, "fuzz.yaml");
    const std::string printed = kiln::config_to_yaml(c);
    kiln::Config again;
    try {
      again = kiln::parse_config(printed, "printed.yaml");
    } catch (const kiln::KilnError& e) {
      kiln::fuzz::finding("an accepted config prints to one that is refused", e.what(), printed);
    }
    if (kiln::config_to_yaml(again) != printed)
      kiln::fuzz::finding("printing is not stable", kiln::config_to_yaml(again), printed);
  });
  return 0;
}
