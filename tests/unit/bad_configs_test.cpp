// Runs every tests/configs/bad/*.yaml: each file's first line is "# expect-error: <message>",
// with {file} standing for the file's path. Adding a case is adding a file.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "config/config.h"
#include "util/error.h"

using namespace kiln;

TEST_CASE("bad configs give their exact message") {
  const std::string dir = std::string(KILN_SOURCE_DIR) + "/tests/configs/bad";
  int cases = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    const std::string path = entry.path().string();
    std::ifstream in(path);
    std::string first;
    std::getline(in, first);
    const std::string tag = "# expect-error: ";
    REQUIRE_MESSAGE(first.rfind(tag, 0) == 0, path << ": first line must be '" << tag << "...'");
    std::string expected = first.substr(tag.size());
    auto pos = expected.find("{file}");
    if (pos != std::string::npos) expected.replace(pos, 6, path);
    std::string got;
    try {
      load_config(path);
    } catch (const ConfigError& e) {
      got = e.what();
    }
    CAPTURE(path);
    CHECK(got == expected);
    ++cases;
  }
  CHECK(cases >= 10);
}
