#include "hf/wordpiece.h"

#include <rapidjson/document.h>
#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <sstream>

#include "util/error.h"
#include "util/fs.h"

namespace kiln {
namespace {

constexpr size_t kMaxWordChars = 100;  // BERT's max_input_chars_per_word: longer words are [UNK]

std::vector<int32_t> decode(std::string_view s) {
  std::vector<int32_t> cps;
  cps.reserve(s.size());
  auto p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(s.size());
  while (left > 0) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) {  // a byte that is not UTF-8: skipped, as a character HF cannot decode
      ++p, --left;
      continue;
    }
    cps.push_back(cp);
    p += n, left -= n;
  }
  return cps;
}

void append(std::string& out, int32_t cp) {
  utf8proc_uint8_t buf[4];
  auto n = utf8proc_encode_char(cp, buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

// NFC or NFD of valid UTF-8.
std::string normalize(const std::string& s, bool nfd) {
  utf8proc_uint8_t* r = nullptr;
  auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()), static_cast<utf8proc_ssize_t>(s.size()), &r,
                        static_cast<utf8proc_option_t>(UTF8PROC_STABLE | (nfd ? UTF8PROC_DECOMPOSE : UTF8PROC_COMPOSE)));
  if (n < 0) return s;
  std::string out(reinterpret_cast<char*>(r), static_cast<size_t>(n));
  std::free(r);
  return out;
}

bool is_whitespace(int32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || utf8proc_category(c) == UTF8PROC_CATEGORY_ZS;
}
bool is_control(int32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO: case UTF8PROC_CATEGORY_CN: return true;
    default: return false;
  }
}
// BERT counts every non-alphanumeric ASCII character as punctuation ($, ^, `), and Unicode's P*.
bool is_punctuation(int32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS: case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF: case UTF8PROC_CATEGORY_PO: return true;
    default: return false;
  }
}
bool is_cjk(int32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

std::string special(const rapidjson::Value& v, const std::string& fallback) {
  if (v.IsString()) return v.GetString();
  if (v.IsObject() && v.HasMember("content") && v["content"].IsString()) return v["content"].GetString();
  return fallback;
}

}  // namespace

void WordPieceTokenizer::index() {
  ids_.clear();
  for (size_t i = 0; i < vocab_.size(); ++i) ids_.emplace(vocab_[i], static_cast<int64_t>(i));
}

WordPieceTokenizer WordPieceTokenizer::from_dir(const std::string& dir) {
  WordPieceTokenizer t;
  const std::string vocab_txt = path_join(dir, "vocab.txt"), tok_json = path_join(dir, "tokenizer.json");
  if (file_exists(vocab_txt)) {
    std::istringstream in(read_file(vocab_txt));
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      t.vocab_.push_back(line);
    }
  } else if (file_exists(tok_json)) {
    rapidjson::Document d;
    const std::string text = read_file(tok_json);
    d.Parse(text.data(), text.size());
    if (d.HasParseError() || !d.IsObject() || !d.HasMember("model") || !d["model"].IsObject() ||
        !d["model"].HasMember("vocab") || !d["model"]["vocab"].IsObject())
      throw DataError(tok_json + ": expected a WordPiece tokenizer with a model.vocab object of token: id");
    const auto& v = d["model"]["vocab"];
    t.vocab_.resize(v.MemberCount());
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
      if (!it->value.IsUint() || it->value.GetUint() >= t.vocab_.size())
        throw DataError(tok_json + ": token '" + std::string(it->name.GetString()) + "' has an id outside 0.." +
                        std::to_string(t.vocab_.size() - 1));
      t.vocab_[it->value.GetUint()] = it->name.GetString();
    }
  } else {
    throw DataError(dir + ": no vocab.txt (nor tokenizer.json) for the WordPiece tokenizer");
  }
  const std::string cfg = path_join(dir, "tokenizer_config.json");
  bool strip_given = false;
  if (file_exists(cfg)) {
    rapidjson::Document d;
    const std::string text = read_file(cfg);
    d.Parse(text.data(), text.size());
    if (d.HasParseError() || !d.IsObject()) throw DataError(cfg + ": not a JSON object");
    if (d.HasMember("do_lower_case") && d["do_lower_case"].IsBool()) t.lowercase_ = d["do_lower_case"].GetBool();
    if (d.HasMember("strip_accents") && d["strip_accents"].IsBool())
      t.strip_accents_ = d["strip_accents"].GetBool(), strip_given = true;
    if (d.HasMember("tokenize_chinese_chars") && d["tokenize_chinese_chars"].IsBool())
      t.chinese_chars_ = d["tokenize_chinese_chars"].GetBool();
    if (d.HasMember("cls_token")) t.cls_ = special(d["cls_token"], t.cls_);
    if (d.HasMember("sep_token")) t.sep_ = special(d["sep_token"], t.sep_);
    if (d.HasMember("pad_token")) t.pad_ = special(d["pad_token"], t.pad_);
    if (d.HasMember("unk_token")) t.unk_ = special(d["unk_token"], t.unk_);
  }
  if (!strip_given) t.strip_accents_ = t.lowercase_;  // strip_accents: null follows lower-casing
  t.index();
  for (const auto* s : {&t.cls_, &t.sep_, &t.pad_, &t.unk_})
    if (!t.ids_.count(*s)) throw DataError(dir + ": the special token '" + *s + "' is not in the vocabulary");
  if (t.ids_.at(t.pad_) != 0)  // Kiln pads every sequence with index 0
    throw DataError(dir + ": the padding token '" + t.pad_ + "' is at index " + std::to_string(t.ids_.at(t.pad_)) +
                    " of the vocabulary; Kiln needs it at index 0 (as BERT's)");
  return t;
}

std::string WordPieceTokenizer::serialize() const {
  std::string s = "kiln-wordpiece 1\n";
  s += std::to_string(lowercase_) + " " + std::to_string(strip_accents_) + " " + std::to_string(chinese_chars_) + "\n";
  for (const auto* t : {&cls_, &sep_, &pad_, &unk_}) s += *t + "\n";
  for (const auto& v : vocab_) s += v + "\n";
  return s;
}

WordPieceTokenizer WordPieceTokenizer::deserialize(const std::string& s) {
  std::istringstream in(s);
  std::string line;
  WordPieceTokenizer t;
  int lc = 0, sa = 0, cc = 0;
  if (!std::getline(in, line) || line != "kiln-wordpiece 1" || !std::getline(in, line) ||
      std::sscanf(line.c_str(), "%d %d %d", &lc, &sa, &cc) != 3 || !std::getline(in, t.cls_) ||
      !std::getline(in, t.sep_) || !std::getline(in, t.pad_) || !std::getline(in, t.unk_))
    throw ModelError("the saved WordPiece tokenizer is corrupt");
  t.lowercase_ = lc, t.strip_accents_ = sa, t.chinese_chars_ = cc;
  while (std::getline(in, line)) t.vocab_.push_back(line);
  t.index();
  if (!t.ids_.count(t.unk_)) throw ModelError("the saved WordPiece tokenizer is corrupt (no unknown token)");
  return t;
}

void WordPieceTokenizer::wordpiece(const std::string& word, const std::function<void(std::string_view)>& emit) const {
  // Piece boundaries are character boundaries: the byte offsets where each character starts.
  std::vector<size_t> starts;
  for (size_t i = 0; i < word.size(); ++i)
    if ((static_cast<unsigned char>(word[i]) & 0xC0) != 0x80) starts.push_back(i);
  if (starts.size() > kMaxWordChars) return emit(unk_);
  starts.push_back(word.size());
  std::vector<std::string> pieces;
  std::string cand;
  for (size_t a = 0; a + 1 < starts.size();) {
    size_t found = 0;
    for (size_t b = starts.size() - 1; b > a; --b) {
      cand = (a ? "##" : "") + word.substr(starts[a], starts[b] - starts[a]);
      if (ids_.count(cand)) {
        found = b;
        break;
      }
    }
    if (!found) return emit(unk_);
    pieces.push_back(cand);
    a = found;
  }
  for (const auto& p : pieces) emit(p);
}

void WordPieceTokenizer::tokenize(std::string_view text, const std::function<void(std::string_view)>& emit) const {
  std::string cleaned;
  cleaned.reserve(text.size());
  for (int32_t c : decode(text)) {
    if (c == 0 || c == 0xFFFD || is_control(c)) continue;
    if (is_whitespace(c)) {
      cleaned += ' ';
    } else if (chinese_chars_ && is_cjk(c)) {
      cleaned += ' ', append(cleaned, c), cleaned += ' ';
    } else {
      append(cleaned, c);
    }
  }
  cleaned = normalize(cleaned, false);
  std::string word;
  auto flush = [&] {
    if (!word.empty()) wordpiece(word, emit), word.clear();
  };
  size_t i = 0;
  while (i < cleaned.size()) {
    size_t j = cleaned.find(' ', i);
    if (j == std::string::npos) j = cleaned.size();
    std::string tok = cleaned.substr(i, j - i);
    i = j + 1;
    if (tok.empty()) continue;
    std::vector<int32_t> cps = decode(tok);
    if (lowercase_)
      for (auto& c : cps) c = utf8proc_tolower(c);
    if (strip_accents_) {
      std::string s;
      for (int32_t c : cps) append(s, c);
      std::vector<int32_t> kept;
      for (int32_t c : decode(normalize(s, true)))
        if (utf8proc_category(c) != UTF8PROC_CATEGORY_MN) kept.push_back(c);
      cps.swap(kept);
    }
    for (int32_t c : cps) {
      if (is_punctuation(c)) {
        flush();
        append(word, c);
        flush();
      } else {
        append(word, c);
      }
    }
    flush();
  }
}

}  // namespace kiln
