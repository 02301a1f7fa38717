#pragma once
// What preprocessing learned from the TRAINING split for one feature. Saved beside the config
// (model/feature_metadata.json), never written into it.
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace kiln {

// The groups of fields a feature type learns, saves and loads (FeatureKind::metadata_fields): the
// type declares its groups, and feature_metadata.json holds those and no others.
namespace metadata_fields {
constexpr unsigned statistics = 1u << 0;  // mean, std, min, max, q1-q3, fill_value
constexpr unsigned vocabulary = 1u << 1;  // idx2str, str2freq
constexpr unsigned sequence = 1u << 2;    // sequence_length, tokenizer_model, pretrained_config, str2idf (each when set)
constexpr unsigned labels = 1u << 3;      // true_label, false_label
constexpr unsigned image = 1u << 4;       // height, width, num_channels, channel_mean, channel_std
constexpr unsigned score_threshold = 1u << 5;  // threshold (anomaly: set after training)
}  // namespace metadata_fields

struct FeatureMetadata {
  std::string name, type;
  // Not saved: steps that arrive already embedded (the sequence combiner's input to a sequence
  // encoder), `channels` wide; they pass through instead of being embedded.
  bool embedded_steps = false;
  // number
  double mean = 0, std = 1, min = 0, max = 0, q1 = 0, q2 = 0, q3 = 0;
  double fill_value = 0;  // computed fill for missing numbers
  // category (and binary labels): index → label, with training counts
  std::vector<std::string> idx2str;
  std::vector<int64_t> str2freq;
  std::unordered_map<std::string, int64_t> str2idx;  // derived from idx2str
  // binary: the labels predictions are written with
  std::string true_label = "true", false_label = "false";
  int64_t training_rows = 0, training_missing = 0;
  // text / sequence: padded length of every encoded row (vector: its number of values), the trained tokenizer (a serialized
  // SentencePiece model, kept base64-encoded in the JSON) and inverse document frequencies.
  int64_t sequence_length = 0;
  std::string tokenizer_model;
  // hf_tokenizer: the pretrained model's config.json (its architecture, which a pretrained encoder
  // is built with; kept so a saved model rebuilds without the model's directory).
  std::string pretrained_config;
  std::vector<double> idf;
  // image: the size every image is resized to, and per-channel standardization (empty: pixels
  // are only scaled to [0, 1]).
  int64_t height = 0, width = 0, channels = 0;
  std::vector<double> channel_mean, channel_std;
  // anomaly: the score from which a row is an anomaly (NaN until training has set it)
  double score_threshold = std::nan("");

  void index();  // rebuilds str2idx from idx2str
  int64_t vocab_size() const { return static_cast<int64_t>(idx2str.size()); }
};

using MetadataMap = std::map<std::string, FeatureMetadata>;

std::string metadata_to_json(const MetadataMap& m);
MetadataMap metadata_from_json(const std::string& text, const std::string& source);

}  // namespace kiln
