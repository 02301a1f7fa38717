// libFuzzer target: the YAML config loader through validation. An accepted config must print
// (config_to_yaml) to a config that is accepted again and prints the same, and its hyperopt block,
// when it has one, must parse or be refused with a ConfigError.
#include <cstddef>
#include <cstdint>
#include <string>

#include "automl/search_space.h"
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
    if (c.hyperopt && !c.hyperopt.IsNull()) kiln::parse_hyperopt(c.hyperopt, "fuzz.yaml");
  });
  return 0;
}
