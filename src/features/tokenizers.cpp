#include "features/tokenizers.h"

#include "version.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "hf/wordpiece.h"
#include "util/error.h"

namespace kiln {
namespace {

bool is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
// Bytes of multi-byte UTF-8 characters count as word characters, so accented and non-Latin
// letters stay inside their words (Ludwig's \w is Unicode-aware).
bool is_word(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

// space: runs of non-whitespace.
class SpaceTokenizer : public Tokenizer {
 public:
  void tokenize(std::string_view s, const std::function<void(std::string_view)>& emit) const override {
    size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && is_space(s[i])) ++i;
      size_t j = i;
      while (j < s.size() && !is_space(s[j])) ++j;
      if (j > i) emit(s.substr(i, j - i));
      i = j;
    }
  }
};

// space_punct: runs of word characters, and each punctuation character on its own.
class SpacePunctTokenizer : public Tokenizer {
 public:
  void tokenize(std::string_view s, const std::function<void(std::string_view)>& emit) const override {
    size_t i = 0;
    while (i < s.size()) {
      unsigned char c = s[i];
      if (is_space(c)) {
        ++i;
      } else if (is_word(c)) {
        size_t j = i;
        while (j < s.size() && is_word(s[j])) ++j;
        emit(s.substr(i, j - i));
        i = j;
      } else {
        emit(s.substr(i, 1));
        ++i;
      }
    }
  }
};

// characters: one token per UTF-8 character (whitespace included, as in Ludwig).
class CharactersTokenizer : public Tokenizer {
 public:
  void tokenize(std::string_view s, const std::function<void(std::string_view)>& emit) const override {
    size_t i = 0;
    while (i < s.size()) {
      unsigned char c = s[i];
      size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
      n = std::min(n, s.size() - i);
      emit(s.substr(i, n));
      i += n;
    }
  }
};

std::string_view trimmed(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// comma, underscore: the text split at each separator, whitespace around the pieces removed
// (Ludwig's \s*,\s* and \s*_\s*); empty pieces are skipped.
class SeparatorTokenizer : public Tokenizer {
 public:
  explicit SeparatorTokenizer(char sep) : sep_(sep) {}
  void tokenize(std::string_view s, const std::function<void(std::string_view)>& emit) const override {
    size_t i = 0;
    while (i <= s.size()) {
      size_t j = s.find(sep_, i);
      if (j == std::string_view::npos) j = s.size();
      const std::string_view piece = trimmed(s.substr(i, j - i));
      if (!piece.empty()) emit(piece);
      i = j + 1;
    }
  }

 private:
  char sep_;
};

// untokenized: the whole text is one token; stripped: the same without surrounding whitespace.
class WholeTokenizer : public Tokenizer {
 public:
  explicit WholeTokenizer(bool strip) : strip_(strip) {}
  void tokenize(std::string_view s, const std::function<void(std::string_view)>& emit) const override {
    const std::string_view t = strip_ ? trimmed(s) : s;
    if (!t.empty()) emit(t);
  }

 private:
  bool strip_;
};

// SentencePiece lives in its own module (features/spm/spm_module.cpp explains why), loaded on
// first use: $KILN_SPM_MODULE, else beside the library holding this code (libkiln.so, for an
// embedding application), else beside the executable (or in ../lib, as installed), else where the
// build put it.
struct SpmModule {
  using TrainFn = int (*)(const char* const*, const size_t*, size_t, const char* const*,
                          const char* const*, size_t, char**, size_t*, char**);
  using LoadFn = void* (*)(const char*, size_t, char**);
  using EncodeFn = void (*)(void*, const char*, size_t, void (*)(void*, const char*, size_t), void*);
  using FreeFn = void (*)(void*);
  TrainFn train = nullptr;
  LoadFn load = nullptr;
  EncodeFn encode = nullptr;
  FreeFn free = nullptr;
};

const SpmModule& spm() {
  static const SpmModule m = [] {
#ifdef KILN_SANITIZED
    // AddressSanitizer's runtime refuses RTLD_DEEPBIND (google/sanitizers#611), and without deep
    // binding SentencePiece's bundled protobuf meets libtorch's and aborts on a version check.
    throw ModelError("the sentencepiece tokenizer is not available in a sanitizer build (KILN_SANITIZE)");
#endif
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("KILN_SPM_MODULE")) candidates.push_back(env);
    Dl_info self{};
    if (dladdr(reinterpret_cast<void*>(&spm), &self) && self.dli_fname) {
      std::string dir(self.dli_fname);
      if (dir.find(".so") != std::string::npos && dir.rfind('/') != std::string::npos)
        candidates.push_back(dir.substr(0, dir.rfind('/')) + "/libkiln_spm.so");
    }
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
      std::string dir(exe, static_cast<size_t>(n));
      dir = dir.substr(0, dir.rfind('/'));
      candidates.push_back(dir + "/libkiln_spm.so");
      candidates.push_back(dir + "/../libkiln_spm.so");
      candidates.push_back(dir + "/../" KILN_INSTALL_LIBDIR "/libkiln_spm.so");
    }
    candidates.push_back(KILN_SPM_MODULE_PATH);
    std::string tried;
    for (const auto& path : candidates) {
      void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (!h) {
        tried += (tried.empty() ? "" : ", ") + path;
        continue;
      }
      SpmModule s;
      s.train = reinterpret_cast<SpmModule::TrainFn>(dlsym(h, "kiln_spm_train"));
      s.load = reinterpret_cast<SpmModule::LoadFn>(dlsym(h, "kiln_spm_load"));
      s.encode = reinterpret_cast<SpmModule::EncodeFn>(dlsym(h, "kiln_spm_encode"));
      s.free = reinterpret_cast<SpmModule::FreeFn>(dlsym(h, "kiln_spm_free"));
      if (s.train && s.load && s.encode && s.free) return s;
    }
    throw ModelError("the sentencepiece tokenizer needs libkiln_spm.so (built with kiln); not found at " + tried);
  }();
  return m;
}

std::string take(char* p, size_t n) {
  std::string s(p, n);
  std::free(p);
  return s;
}

class SentencePieceTokenizer : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::string& model) {
    char* err = nullptr;
    handle_ = spm().load(model.data(), model.size(), &err);
    if (!handle_)
      throw ModelError("sentencepiece tokenizer model is corrupt (" + take(err, std::strlen(err)) + ")");
  }
  ~SentencePieceTokenizer() override { spm().free(handle_); }
  SentencePieceTokenizer(const SentencePieceTokenizer&) = delete;
  SentencePieceTokenizer& operator=(const SentencePieceTokenizer&) = delete;
  void tokenize(std::string_view s, const std::function<void(std::string_view)>& emit) const override {
    spm().encode(handle_, s.data(), s.size(), [](void* ctx, const char* p, size_t n) {
      (*static_cast<const std::function<void(std::string_view)>*>(ctx))(std::string_view(p, n));
    }, const_cast<std::function<void(std::string_view)>*>(&emit));
  }

 private:
  void* handle_ = nullptr;
};

std::string train_sentencepiece(const std::vector<std::string_view>& texts,
                                const TokenizerTraining& o) {
  // The trainer keeps global state: one training at a time.
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  const std::vector<std::pair<std::string, std::string>> args = {
      {"model_type", o.model_type},
      {"vocab_size", std::to_string(o.vocab_size)},
      {"hard_vocab_limit", "false"},  // a small corpus gets a smaller vocabulary, not an error
      {"max_sentence_length", "1000000"},
      {"input_sentence_size", "2000000"},
      {"shuffle_input_sentence", "true"},
      {"num_threads", std::to_string(std::max(1, o.threads))},
      {"minloglevel", "2"},
      // Our vocabulary adds its own <PAD>/<UNK>; sentencepiece keeps only <unk>.
      {"bos_id", "-1"},
      {"eos_id", "-1"},
      {"pad_id", "-1"},
  };
  std::vector<const char*> keys, values, ptrs;
  std::vector<size_t> lens;
  for (const auto& [k, v] : args) keys.push_back(k.c_str()), values.push_back(v.c_str());
  for (auto t : texts) ptrs.push_back(t.data()), lens.push_back(t.size());
  char *model = nullptr, *err = nullptr;
  size_t model_len = 0;
  if (spm().train(ptrs.data(), lens.data(), ptrs.size(), keys.data(), values.data(), keys.size(),
                  &model, &model_len, &err) != 0)
    throw DataError("sentencepiece training failed: " + take(err, std::strlen(err)));
  return take(model, model_len);
}

}  // namespace

Registry<TokenizerSpec>& tokenizers() {
  static Registry<TokenizerSpec> r;
  return r;
}

void register_tokenizers() {
  auto rule = [](std::string doc, auto make) {
    TokenizerSpec s;
    s.doc = std::move(doc);
    s.make = [make](const std::string&) -> std::unique_ptr<Tokenizer> { return make(); };
    return s;
  };
  tokenizers().add("space", rule("runs of non-whitespace characters",
                                 [] { return std::make_unique<SpaceTokenizer>(); }));
  tokenizers().add("space_punct", rule("words, and each punctuation character on its own",
                                       [] { return std::make_unique<SpacePunctTokenizer>(); }));
  tokenizers().add("characters", rule("one token per (UTF-8) character",
                                      [] { return std::make_unique<CharactersTokenizer>(); }));
  tokenizers().add("comma", rule("pieces between commas, trimmed",
                                 [] { return std::make_unique<SeparatorTokenizer>(','); }));
  tokenizers().add("underscore", rule("pieces between underscores, trimmed",
                                      [] { return std::make_unique<SeparatorTokenizer>('_'); }));
  tokenizers().add("untokenized", rule("the whole text as one token",
                                       [] { return std::make_unique<WholeTokenizer>(false); }));
  tokenizers().add("stripped", rule("the whole text without surrounding whitespace as one token",
                                    [] { return std::make_unique<WholeTokenizer>(true); }));
  TokenizerSpec sp;
  sp.doc = "SentencePiece (unigram or bpe) trained on the training split";
  sp.train = train_sentencepiece;
  sp.make = [](const std::string& model) -> std::unique_ptr<Tokenizer> {
    return std::make_unique<SentencePieceTokenizer>(model);
  };
  tokenizers().add("sentencepiece", std::move(sp));
  TokenizerSpec hf;
  hf.doc = "a pretrained BERT-family model's WordPiece tokenizer and vocabulary (preprocessing."
           "pretrained_model_name_or_path: a local directory or Hugging Face cache entry)";
  hf.pretrained = true;
  hf.train = [](const std::vector<std::string_view>&, const TokenizerTraining& t) {
    return WordPieceTokenizer::from_dir(t.pretrained_dir).serialize();
  };
  hf.make = [](const std::string& model) -> std::unique_ptr<Tokenizer> {
    return std::make_unique<WordPieceTokenizer>(WordPieceTokenizer::deserialize(model));
  };
  tokenizers().add("hf_tokenizer", std::move(hf));
}

}  // namespace kiln
