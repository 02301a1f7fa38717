// Pretrained Hugging Face text encoders (encoders/pretrained.cpp) and what they read (src/hf/):
// safetensors files, the Hugging Face cache layout, BERT's WordPiece tokenizer.
//
// The comparison with an independent implementation needs a model written by
// tests/e2e/tiny_pretrained.py (Python's unicodedata, plain PyTorch), so it is skipped in the plain
// unit runs and run by tests/e2e/pretrained.sh:
//   KILN_TINY_BERT=dir KILN_TINY_DISTILBERT=dir kiln_tests -ts=pretrained_fixture --no-skip
#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <torch/torch.h>

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <numeric>
#include <filesystem>
#include <fstream>

#include "config/config.h"
#include "config/schema.h"
#include "features/feature.h"
#include "features/metadata.h"
#include "hf/pretrained.h"
#include "hf/wordpiece.h"
#include "model/components.h"
#include "util/error.h"
#include "util/fs.h"

using namespace kiln;
namespace fs = std::filesystem;

namespace {

std::string temp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("kiln_pretrained_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

void write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string safetensors_bytes(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("safetensors: tensors by name, float16 widened; malformed files name the file and the tensor") {
  const std::string d = temp_dir("st");
  std::string data(4 * 4 + 2 * 2, '\0');
  const float f[4] = {1.5f, -2.f, 0.25f, 3.f};
  std::memcpy(data.data(), f, 16);
  const uint16_t h[2] = {0x3c00, 0xc000};  // 1.0, -2.0 in IEEE half precision
  std::memcpy(data.data() + 16, h, 4);
  const std::string ok = path_join(d, "ok.safetensors");
  write(ok, safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                              R"("b":{"dtype":"F16","shape":[2],"data_offsets":[16,20]},"__metadata__":{"format":"pt"}})",
                              data));
  auto t = read_safetensors(ok);
  REQUIRE(t.size() == 2);
  CHECK(t["a"].equal(torch::tensor({1.5f, -2.f, 0.25f, 3.f}).view({2, 2})));
  CHECK(t["b"].dtype() == torch::kFloat32);
  CHECK(t["b"].equal(torch::tensor({1.f, -2.f})));

  const std::string bad = path_join(d, "bad.safetensors");
  write(bad, safetensors_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data));
  CHECK(error_of([&] { read_safetensors(bad); }) ==
        bad + ": tensor 'a' has data_offsets [0, 8] that do not hold its 12 bytes within the file");
  write(bad, safetensors_bytes(R"({"a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}})", data));
  CHECK(error_of([&] { read_safetensors(bad); }) ==
        bad + ": tensor 'a' has dtype U8, which Kiln does not read (expected F32, F16, BF16, F64, I64 or I32)");
  write(bad, "short");
  CHECK(error_of([&] { read_safetensors(bad); }) == bad + ": not a safetensors file (shorter than its 8-byte header length)");
  write(path_join(d, "pytorch_model.bin"), "pickle");
  CHECK(error_of([&] { read_pretrained_weights(d); }).find(d + ": has pytorch_model.bin (a Python pickle) but no model.safetensors") == 0);
  fs::remove_all(d);
}

TEST_CASE("pretrained models are found as a directory or in the Hugging Face cache, never downloaded") {
  const std::string cache = temp_dir("hub");
  const std::string snap = path_join(cache, "models--org--tiny-model/snapshots/0123abc");
  fs::create_directories(snap);
  fs::create_directories(path_join(cache, "models--org--tiny-model/snapshots/old"));
  fs::create_directories(path_join(cache, "models--org--tiny-model/refs"));
  write(path_join(cache, "models--org--tiny-model/refs/main"), "0123abc\n");
  ::setenv("HF_HUB_CACHE", cache.c_str(), 1);
  CHECK(find_pretrained_dir("org/tiny-model", "t") == snap);
  CHECK(find_pretrained_dir(snap, "t") == snap);  // a directory is itself
  CHECK(error_of([&] { find_pretrained_dir("bert-base-uncased", "input feature 'x'"); }) ==
        "input feature 'x': pretrained model 'bert-base-uncased' not found: it is neither a directory nor in the "
        "Hugging Face cache (" + cache + "/models--bert-base-uncased/snapshots); Kiln never downloads models: put its "
        "config.json, model.safetensors and vocab.txt in a directory and give that path as pretrained_model_name_or_path");
  ::unsetenv("HF_HUB_CACHE");
  fs::remove_all(cache);
}

TEST_CASE("WordPiece: longest pieces from the start, ## continuations, [UNK] for an uncoverable word") {
  const std::string d = temp_dir("wp");
  write(path_join(d, "vocab.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\nun\n##aff\n##able\na\n##b\n,\n!\ncafe\n");
  write(path_join(d, "tokenizer_config.json"), R"({"do_lower_case": true, "unk_token": {"content": "[UNK]"}})");
  auto tok = WordPieceTokenizer::from_dir(d);
  std::vector<std::string> out;
  tok.tokenize("UnAffable, CAFÉ!\tab\x01 xyz", [&](std::string_view s) { out.emplace_back(s); });
  CHECK(out == std::vector<std::string>{"un", "##aff", "##able", ",", "cafe", "!", "a", "##b", "[UNK]"});
  CHECK(tok.begin_token() == "[CLS]");
  auto again = WordPieceTokenizer::deserialize(tok.serialize());
  CHECK(*again.vocabulary() == *tok.vocabulary());
  write(path_join(d, "vocab.txt"), "[UNK]\n[PAD]\n[CLS]\n[SEP]\n");
  CHECK(error_of([&] { WordPieceTokenizer::from_dir(d); }) ==
        d + ": the padding token '[PAD]' is at index 1 of the vocabulary; Kiln needs it at index 0 (as BERT's)");
  fs::remove_all(d);
}

TEST_CASE("a text feature with a pretrained encoder takes the model's tokenizer, frozen unless trainable") {
  Config c = parse_config(
      "input_features: [{name: x, type: text, encoder: {type: bert, pretrained_model_name_or_path: /some/dir}}]\n"
      "output_features: [{name: y, type: binary}]\n", "m.yaml");
  YAML::Node n = YAML::Load(config_to_yaml(c));
  CHECK(n["input_features"][0]["preprocessing"]["tokenizer"].as<std::string>() == "hf_tokenizer");
  CHECK(n["input_features"][0]["preprocessing"]["pretrained_model_name_or_path"].as<std::string>() == "/some/dir");
  CHECK(n["input_features"][0]["encoder"]["trainable"].as<bool>() == false);
  CHECK(n["input_features"][0]["encoder"]["reduce_output"].as<std::string>() == "cls_pooled");
}

TEST_CASE("bert and distilbert match an independent PyTorch implementation" *
          doctest::test_suite("pretrained_fixture") * doctest::skip()) {
  for (const auto& model : {std::pair<const char*, const char*>{"KILN_TINY_BERT", "bert"}, {"KILN_TINY_DISTILBERT", "distilbert"}}) {
    const char* env = model.first;  // plain variables: lambdas (CAPTURE) cannot capture a structured binding in C++17
    const char* type = model.second;
    CAPTURE(type);
    const char* dir = std::getenv(env);
    REQUIRE_MESSAGE(dir, env << " names the model tests/e2e/tiny_pretrained.py wrote");
    rapidjson::Document e;
    const std::string text = read_file(path_join(dir, "expected.json"));
    e.Parse(text.data(), text.size());
    REQUIRE(e.IsObject());
    const auto& texts = e["texts"].GetArray();

    // The tokenizer, piece by piece.
    auto tok = WordPieceTokenizer::from_dir(dir);
    for (rapidjson::SizeType i = 0; i < texts.Size(); ++i) {
      std::vector<std::string> got, want;
      tok.tokenize(texts[i].GetString(), [&](std::string_view s) { got.emplace_back(s); });
      for (const auto& w : e["tokens"][i].GetArray()) want.emplace_back(w.GetString());
      CAPTURE(texts[i].GetString());
      CHECK(got == want);
    }

    // The feature's encoding ([CLS] ... [SEP], truncated, padded) through the text feature itself.
    std::string csv = "x\n";
    for (const auto& t : texts) csv += "\"" + std::string(t.GetString()) + "\"\n";
    ReadOptions ro;
    ro.columns = {"x"};
    Table table = read_csv_text(csv, "t.csv", ',', ro);
    const int64_t length = e["length"].GetInt64();
    for (const char* reduce : {"cls_pooled", "mean"}) {
      if (std::string(type) == "distilbert" && std::string(reduce) == "cls_pooled") continue;
      CAPTURE(reduce);
      Config c = parse_config(std::string("input_features: [{name: x, type: text, preprocessing: {sequence_length: ") +
                                  std::to_string(length) + "}, encoder: {type: " + type + ", pretrained_model_name_or_path: '" +
                                  dir + "', reduce_output: " + reduce + "}}]\noutput_features: [{name: y, type: binary}]\n",
                              "m.yaml");
      const auto& f = c.input_features[0];
      const auto& kind = feature_kind("text");
      std::vector<int64_t> rows(texts.Size());
      std::iota(rows.begin(), rows.end(), 0);
      auto m = kind.fit(f, table, table.get("x"), rows);
      m = metadata_from_json(metadata_to_json({{"x", m}}), "fm.json").at("x");  // as a saved model has it
      auto ids = kind.encode(f, m, table, table.get("x"));
      std::vector<std::vector<int64_t>> want_ids;
      for (const auto& r : e["ids"].GetArray()) {
        want_ids.emplace_back();
        for (const auto& v : r.GetArray()) want_ids.back().push_back(v.GetInt64());
      }
      for (int64_t i = 0; i < ids.size(0); ++i) {
        auto row = ids[i].contiguous();
        CHECK(std::vector<int64_t>(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel()) == want_ids[i]);
      }

      auto enc = (*encoder_builders().find(std::string("text/") + type))(*f.encoder.options, m);
      for (const auto& p : enc->parameters()) CHECK_FALSE(p.requires_grad());  // trainable: false
      enc->init_pretrained();
      enc->eval();
      torch::NoGradGuard g;
      auto out = enc->forward(ids);
      const auto& want = e[reduce == std::string("mean") ? "mean" : "cls_pooled"];
      REQUIRE(out.size(0) == static_cast<int64_t>(want.Size()));
      double worst = 0;
      for (int64_t i = 0; i < out.size(0); ++i)
        for (int64_t j = 0; j < out.size(1); ++j)
          worst = std::max(worst, std::abs(out[i][j].item<double>() - want[static_cast<rapidjson::SizeType>(i)][static_cast<rapidjson::SizeType>(j)].GetDouble()));
      CHECK(worst < 1e-4);
    }
  }
}
