#pragma once
// Tokenizers of text and sequence features, registered by their config names (Ludwig's): space,
// space_punct, characters, comma, underscore, untokenized, stripped; sentencepiece, which is
// trained on the training split at preprocessing; and hf_tokenizer, a pretrained model's own
// (hf/wordpiece.h). The model of the last two is kept in the feature metadata for predict.
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/registry.h"

namespace kiln {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Calls emit(token) for each token of `text`, in order. Thread-safe.
  virtual void tokenize(std::string_view text,
                        const std::function<void(std::string_view)>& emit) const = 0;
  // Pretrained tokenizers wrap every row in these (BERT's [CLS] ... [SEP]); empty: nothing.
  virtual std::string_view begin_token() const { return {}; }
  virtual std::string_view end_token() const { return {}; }
  // A pretrained tokenizer's own vocabulary, in its model's order (the rows of its pretrained
  // embedding), which replaces the one counted from the training split; null: none.
  virtual const std::vector<std::string>* vocabulary() const { return nullptr; }
};

struct TokenizerTraining {
  int vocab_size = 8000;
  std::string model_type = "unigram";  // sentencepiece: unigram | bpe
  int threads = 1;
  uint64_t seed = 42;
  std::string pretrained_dir;  // hf_tokenizer: the model directory its vocabulary is read from
};

struct TokenizerSpec {
  std::string doc;
  // Trained tokenizers: learns a model (serialized bytes) from the training texts; throws
  // DataError when it cannot. Null for the rule-based tokenizers.
  std::function<std::string(const std::vector<std::string_view>& texts, const TokenizerTraining&)>
      train;
  // Reads a pretrained model's directory (TokenizerTraining::pretrained_dir) instead of training.
  bool pretrained = false;
  // Builds the tokenizer from the trained model (ignored by rule-based ones); throws ModelError
  // if the model is corrupt.
  std::function<std::unique_ptr<Tokenizer>(const std::string& model)> make;
};

Registry<TokenizerSpec>& tokenizers();
void register_tokenizers();

}  // namespace kiln
