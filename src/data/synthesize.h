#pragma once
// kiln synthesize_dataset (Ludwig's command): rows that fit every feature of a config, for trying
// a config before real data exists and for testing that a config trains end to end. Each feature
// type writes its own values (FeatureKind::synthesize, with the helpers of Synthesis).
#include <cstdint>
#include <random>
#include <string>

#include "config/config.h"

namespace kiln {

// The randomness and the helpers a feature type's synthesizer uses.
class Synthesis {
 public:
  // Images are written into `image_dir`; the CSV names them as `image_ref`/<file> (relative to
  // the CSV's folder, where Kiln looks for relative paths).
  Synthesis(uint64_t seed, std::string image_dir, std::string image_ref)
      : rng_(seed), image_dir_(std::move(image_dir)), image_ref_(std::move(image_ref)) {}
  int pick(int n);            // uniform in [0, n)
  std::string number();       // a normal value, two decimals
  std::string numbers(int n); // n normal values, space-separated
  // n tokens of a small vocabulary, joined as `tokenizer` splits them (distinct: no repeats).
  std::string tokens(int n, const std::string& tokenizer, bool distinct);
  std::string date(const std::string& strftime_format);
  // Writes a random PNG for `feature`'s row; returns its path as the CSV names it.
  std::string image(const std::string& feature, int64_t row, int height, int width, int channels);

 private:
  std::mt19937_64 rng_;
  std::string image_dir_, image_ref_;
};

struct SynthesizeOptions {
  int64_t rows = 100;
  uint64_t seed = 42;
  std::string output;  // a .csv file; image features write PNG files into <output stem>_images/
};

// Writes the CSV (atomically; a column per distinct feature column) and any image files.
// Throws UsageError / DataError.
void synthesize_dataset(const Config& c, const SynthesizeOptions& o);

}  // namespace kiln
