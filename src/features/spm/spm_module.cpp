// The SentencePiece bridge, built as its own module (libkiln_spm.so) and loaded with
// dlopen(RTLD_LOCAL | RTLD_DEEPBIND) by features/tokenizers.cpp.
//
// Why: Debian's libsentencepiece.so bundles and exports its own copy of protobuf-lite, while
// libtorch loads libprotobuf.so.32. Linked into one process normally, libprotobuf's start-up
// code binds to sentencepiece's copy and crashes before main(). Loaded locally with deep binding,
// sentencepiece keeps its protobuf to itself. Only this plain C interface crosses the boundary.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

char* copy_out(const std::string& s, size_t* len) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  std::memcpy(p, s.data(), s.size());
  p[s.size()] = 0;
  if (len) *len = s.size();
  return p;
}

class Iterator : public sentencepiece::SentenceIterator {
 public:
  Iterator(const char* const* texts, const size_t* lens, size_t n) : t_(texts), l_(lens), n_(n) {
    load();
  }
  bool done() const override { return i_ >= n_; }
  void Next() override {
    ++i_;
    load();
  }
  const std::string& value() const override { return v_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  void load() {
    if (i_ < n_) v_.assign(t_[i_], l_[i_]);
  }
  const char* const* t_;
  const size_t* l_;
  size_t n_, i_ = 0;
  std::string v_;
};

}  // namespace

extern "C" {

// Trains a model on n texts with trainer flags (keys[i] = values[i]). Returns 0 and a malloc'ed
// serialized model, or nonzero and a malloc'ed error message.
int kiln_spm_train(const char* const* texts, const size_t* lens, size_t n, const char* const* keys,
                   const char* const* values, size_t nkv, char** model, size_t* model_len,
                   char** error) {
  std::unordered_map<std::string, std::string> args;
  for (size_t i = 0; i < nkv; ++i) args[keys[i]] = values[i];
  Iterator it(texts, lens, n);
  std::string out;
  auto st = sentencepiece::SentencePieceTrainer::Train(args, &it, &out);
  if (!st.ok()) {
    *error = copy_out(std::string(st.message()), nullptr);
    return 1;
  }
  *model = copy_out(out, model_len);
  return 0;
}

// Loads a serialized model; returns a handle, or null and a malloc'ed error message.
void* kiln_spm_load(const char* model, size_t len, char** error) {
  auto* sp = new sentencepiece::SentencePieceProcessor();
  auto st = sp->LoadFromSerializedProto(absl::string_view(model, len));
  if (!st.ok()) {
    *error = copy_out(std::string(st.message()), nullptr);
    delete sp;
    return nullptr;
  }
  return sp;
}

// Calls emit(ctx, piece, length) for each piece of the text.
void kiln_spm_encode(void* handle, const char* text, size_t len,
                     void (*emit)(void*, const char*, size_t), void* ctx) {
  std::vector<std::string> pieces;
  static_cast<sentencepiece::SentencePieceProcessor*>(handle)
      ->Encode(absl::string_view(text, len), &pieces)
      .IgnoreError();
  for (const auto& p : pieces) emit(ctx, p.data(), p.size());
}

void kiln_spm_free(void* handle) { delete static_cast<sentencepiece::SentencePieceProcessor*>(handle); }

}  // extern "C"
