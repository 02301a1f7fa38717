// libFuzzer target: the hyperopt block parser (Ludwig / Ray Tune parameter spaces), then every
// accepted space's values at its bounds and at random points, applied to a base config by path.
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>

#include <yaml-cpp/yaml.h>

#include "automl/search_space.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kiln::fuzz::init();
  std::string text(reinterpret_cast<const char*>(data), size);
  kiln::fuzz::expect_only_kiln_errors([&] {
    YAML::Node node;
    try {
      node = YAML::Load(text);
    } catch (const YAML::Exception&) {
      return;  // malformed YAML is the config loader's to report (fuzz_config)
    }
    kiln::HyperoptSpec h = kiln::parse_hyperopt(node, "fuzz.yaml");
    std::mt19937_64 rng(1);
    for (const auto& p : h.parameters) {
      std::vector<double> points;
      if (p.categorical()) {
        for (size_t i = 0; i < p.categories.size(); ++i) points.push_back(static_cast<double>(i));
      } else if (p.bounded()) {
        points = {p.internal_low(), p.internal_high()};
      }
      for (int i = 0; i < 4; ++i) points.push_back(p.sample_internal(rng));
      for (double x : points) {
        YAML::Node config = YAML::Load(
            "input_features: [{name: a, type: number}]\n"
            "output_features: [{name: y, type: binary}]\n");
        kiln::set_config_path(config, p.path, p.value(x));
      }
    }
  });
  return 0;
}
