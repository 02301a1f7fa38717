// text / sequence features: tokenizers, the training vocabulary, sequence length, padding, and the
// sentencepiece tokenizer trained on the training split and reused from the metadata.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include "config/config.h"
#include "config/schema.h"
#include "features/feature.h"
#include "features/tokenizers.h"
#include "model/ecd.h"
#include "util/error.h"

using namespace kiln;

static std::vector<std::string> tokens(const std::string& tokenizer, const std::string& text) {
  auto t = tokenizers().find(tokenizer)->make("");
  std::vector<std::string> out;
  t->tokenize(text, [&](std::string_view s) { out.emplace_back(s); });
  return out;
}

static Table table(const std::string& csv, std::vector<std::string> cols) {
  ReadOptions o;
  o.columns = std::move(cols);
  return read_csv_text(csv, "t.csv", ',', o);
}

TEST_CASE("tokenizers: space, space_punct, characters") {
  CHECK(tokens("space", "  Hello,  world!\tok ") == std::vector<std::string>{"Hello,", "world!", "ok"});
  CHECK(tokens("space_punct", "Don't stop-now, café!") ==
        std::vector<std::string>{"Don", "'", "t", "stop", "-", "now", ",", "café", "!"});
  CHECK(tokens("characters", "aé b") == std::vector<std::string>{"a", "é", " ", "b"});
  CHECK(tokens("space", "").empty());
}

TEST_CASE("text vocabulary from training rows, most frequent first; length from training rows") {
  Table t = table("x\nthe cat sat\nthe the dog\n!\nan unseen very long row of words\n", {"x"});
  Config c = parse_config(
      "input_features: [{name: x, type: text, encoder: {type: embed}}]\n"
      "output_features: [{name: y, type: binary, column: x}]\n", "m.yaml");
  const auto& f = c.input_features[0];
  const auto& kind = feature_kind("text");
  auto m = kind.fit(f, t, t.get("x"), {0, 1, 2});
  CHECK(m.idx2str == std::vector<std::string>{"<PAD>", "<UNK>", "<SOS>", "<EOS>", "the", "!",
                                              "cat", "dog", "sat"});
  CHECK(m.sequence_length == 3);  // the longest training row
  auto e = kind.encode(f, m, t, t.get("x"));
  CHECK(e.sizes() == torch::IntArrayRef({4, 3}));
  CHECK(e[0].equal(torch::tensor({4, 6, 8}, torch::kLong)));
  CHECK(e[1].equal(torch::tensor({4, 4, 7}, torch::kLong)));
  CHECK(e[2].equal(torch::tensor({5, 0, 0}, torch::kLong)));   // right padding
  CHECK(e[3].equal(torch::tensor({1, 1, 1}, torch::kLong)));   // unseen words, truncated to 3
  CHECK(m.idf.size() == m.idx2str.size());
  CHECK(m.idf[4] < m.idf[6]);  // "the" is in 2 of 3 documents, "cat" in 1
}

TEST_CASE("text: left padding, fixed sequence_length, missing values, drop_row") {
  Table t = table("x,k\na b,1\n,2\nb,3\n", {"x", "k"});
  Config c = parse_config(
      "input_features: [{name: x, type: text, preprocessing: {padding: left, sequence_length: 4}}]\n"
      "output_features: [{name: k, type: number}]\n", "m.yaml");
  const auto& f = c.input_features[0];
  const auto& kind = feature_kind("text");
  auto m = kind.fit(f, t, t.get("x"), {0, 1, 2});
  CHECK(m.sequence_length == 4);
  CHECK(m.training_missing == 1);
  auto e = kind.encode(f, m, t, t.get("x"));
  CHECK(e[0].equal(torch::tensor({0, 0, 5, 4}, torch::kLong)));  // b is more frequent than a
  CHECK(e[1].equal(torch::tensor({0, 0, 0, 1}, torch::kLong)));  // missing → <UNK>
  Config d = parse_config(
      "input_features: [{name: x, type: text, preprocessing: {missing_value_strategy: drop_row}}]\n"
      "output_features: [{name: k, type: number}]\n", "m.yaml");
  std::vector<uint8_t> keep(3, 1);
  kind.mark_dropped(d.input_features[0], t, t.get("x"), keep);
  CHECK(keep == std::vector<uint8_t>{1, 0, 1});
}

TEST_CASE("sequence defaults: space tokenizer, no lower-casing") {
  Table t = table("s\nA a A\n", {"s"});
  Config c = parse_config("input_features: [{name: s, type: sequence}]\n"
                          "output_features: [{name: y, type: binary, column: s}]\n", "m.yaml");
  auto m = feature_kind("sequence").fit(c.input_features[0], t, t.get("s"), {0});
  CHECK(m.idx2str == std::vector<std::string>{"<PAD>", "<UNK>", "<SOS>", "<EOS>", "A", "a"});
  CHECK(c.input_features[0].encoder.type == "embed");
}

TEST_CASE("sentencepiece: trained on the training rows, kept in the metadata, reused") {
  std::string csv = "x\n";
  const char* lines[] = {"the quick brown fox jumps over the lazy dog",
                         "a quick movement of the enemy will jeopardize six gunboats",
                         "five quacking zephyrs jolt my wax bed",
                         "the five boxing wizards jump quickly"};
  for (int i = 0; i < 50; ++i) csv += std::string(lines[i % 4]) + "\n";
  Table t = table(csv, {"x"});
  Config c = parse_config(
      "input_features: [{name: x, type: text, preprocessing: {tokenizer: sentencepiece, vocab_size: 60}}]\n"
      "output_features: [{name: y, type: binary, column: x}]\n", "m.yaml");
  std::vector<int64_t> train;
  for (int64_t i = 0; i < 40; ++i) train.push_back(i);
  const auto& kind = feature_kind("text");
  auto m = kind.fit(c.input_features[0], t, t.get("x"), train);
  REQUIRE(!m.tokenizer_model.empty());
  CHECK(m.vocab_size() > 10);
  CHECK(m.vocab_size() <= 64);
  auto e = kind.encode(c.input_features[0], m, t, t.get("x"));
  // The metadata round-trips through JSON (base64 model) and encodes the same.
  MetadataMap mm = {{"x", m}};
  auto back = metadata_from_json(metadata_to_json(mm), "meta.json");
  CHECK(back.at("x").tokenizer_model == m.tokenizer_model);
  CHECK(kind.encode(c.input_features[0], back.at("x"), t, t.get("x")).equal(e));
  CHECK(e.ne(1).sum().item<int64_t>() > 0);  // mostly known pieces
}

TEST_CASE("text config errors name the key") {
  CHECK_THROWS_WITH_AS(
      parse_config("input_features: [{name: x, type: text, preprocessing: {tokenizer: spce}}]\n"
                   "output_features: [{name: y, type: binary}]\n", "m.yaml"),
      doctest::Contains("tokenizer: unknown value 'spce'; did you mean 'space'?"), ConfigError);
  CHECK_THROWS_WITH_AS(
      parse_config("input_features: [{name: x, type: text, encoder: {type: transformer, num_heads: 3}}]\n"
                   "output_features: [{name: y, type: binary}]\n", "m.yaml"),
      doctest::Contains("num_heads: 3 does not divide hidden_size 256"), ConfigError);
  CHECK_THROWS_WITH_AS(
      parse_config("input_features: [{name: x, type: number}]\n"
                   "output_features: [{name: y, type: text, decoder: {type: tagger}}]\n", "m.yaml"),
      doctest::Contains("unknown decoder 'tagger' for text output; expected one of: generator"), ConfigError);
  CHECK_THROWS_WITH_AS(
      parse_config("input_features: [{name: x, type: number}]\n"
                   "output_features: [{name: y, type: timeseries}]\n", "m.yaml"),
      doctest::Contains("feature type 'timeseries' cannot be an output"), ConfigError);
}

TEST_CASE("text output: targets end with <EOS>; a generator learns them; token/sequence accuracy, perplexity") {
  register_builtins();
  ReadOptions ro;
  ro.columns = {"k", "out"};
  Table t = read_csv_text("k,out\na,red green blue\nb,green blue\nc,blue\nd,red red\n", "t.csv", ',', ro);
  Config c = parse_config(
      "input_features: [{name: k, type: category}]\n"
      "output_features: [{name: out, type: text, decoder: {type: generator, hidden_size: 32}}]\n"
      "combiner: {type: concat, num_fc_layers: 1, output_size: 32}\n",
      "m.yaml");
  const auto& f = c.output_features[0];
  const auto& text = feature_kind("text");
  MetadataMap m;
  m["out"] = text.fit(f, t, t.get("out"), {0, 1, 2, 3});
  CHECK(m["out"].sequence_length == 4);  // longest row (3 tokens) + <EOS>
  auto y = text.encode(f, m["out"], t, t.get("out"));
  const int64_t eos = 3;
  CHECK(y[2][1].item<int64_t>() == eos);  // "blue" <EOS>
  CHECK(y[2][2].item<int64_t>() == 0);
  m["k"] = feature_kind("category").fit(c.input_features[0], t, t.get("k"), {0, 1, 2, 3});
  auto x = feature_kind("category").encode(c.input_features[0], m["k"], t, t.get("k"));
  torch::manual_seed(0);
  EcdModel model(c, m);
  Batch b = {{"k", x}, {"out", y}};
  torch::optim::Adam opt(model.parameters(), torch::optim::AdamOptions(0.02));
  model.train();
  for (int step = 0; step < 150; ++step) {
    opt.zero_grad();
    text.loss(f, m["out"], model.forward(b).at("out"), y).mean.backward();  // teacher forcing
    opt.step();
  }
  model.eval();
  auto logits = model.forward(b).at("out");  // greedy decoding
  CHECK(logits.sizes() == torch::IntArrayRef({4, 4, m["out"].vocab_size()}));
  auto metrics = text.metrics(f, m["out"]);
  metrics->update(logits, y, text.loss(f, m["out"], logits, y).sum);
  CHECK(metrics->value("token_accuracy") == 1.0);
  CHECK(metrics->value("sequence_accuracy") == 1.0);
  CHECK(metrics->value("perplexity") < 1.5);
  auto cols = text.predictions(f, m["out"], logits);
  CHECK(cols[0].values == std::vector<std::string>{"red green blue", "green blue", "blue", "red red"});
}
