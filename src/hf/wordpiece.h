#pragma once
// BERT's tokenizer (Hugging Face's BertTokenizer, "hf_tokenizer" for BERT-family models): basic
// tokenization (control characters dropped, CJK characters split, NFC, lower-casing and accent
// stripping when the model is uncased, punctuation split off), then WordPiece: each word becomes
// the longest vocabulary entries from its start, continuations written "##piece", [UNK] for a word
// that cannot be covered. Unicode properties come from utf8proc.
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "features/tokenizers.h"

namespace kiln {

class WordPieceTokenizer : public Tokenizer {
 public:
  // What a pretrained model directory says: vocab.txt (else tokenizer.json's WordPiece vocab) and
  // tokenizer_config.json (do_lower_case, strip_accents, tokenize_chinese_chars, special tokens).
  // Throws DataError naming the file that is missing or malformed.
  static WordPieceTokenizer from_dir(const std::string& dir);
  // The tokenizer saved as a string (feature metadata) and read back; throws ModelError if corrupt.
  std::string serialize() const;
  static WordPieceTokenizer deserialize(const std::string& s);

  void tokenize(std::string_view text, const std::function<void(std::string_view)>& emit) const override;
  std::string_view begin_token() const override { return cls_; }
  std::string_view end_token() const override { return sep_; }

  const std::vector<std::string>* vocabulary() const override { return &vocab_; }

 private:
  void index();
  void wordpiece(const std::string& word, const std::function<void(std::string_view)>& emit) const;

  std::vector<std::string> vocab_;
  std::unordered_map<std::string, int64_t> ids_;
  bool lowercase_ = true, strip_accents_ = true, chinese_chars_ = true;
  std::string cls_ = "[CLS]", sep_ = "[SEP]", pad_ = "[PAD]", unk_ = "[UNK]";
};

}  // namespace kiln
