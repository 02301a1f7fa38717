// text / sequence features: tokenizers, the training vocabulary, sequence length, padding, and the
// sentencepiece tokenizer trained on the training split and reused from the metadata.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <algorithm>
#include <numeric>
#include <random>

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
#ifdef KILN_SANITIZED
  // The SentencePiece module cannot be loaded under AddressSanitizer (src/features/tokenizers.cpp):
  // what the sanitized build checks is that asking for it is a clear error.
  Table t0 = table("x\nsome words\n", {"x"});
  Config c0 = parse_config(
      "input_features: [{name: x, type: text, preprocessing: {tokenizer: sentencepiece, vocab_size: 60}}]\n"
      "output_features: [{name: y, type: binary, column: x}]\n", "m.yaml");
  CHECK_THROWS_WITH_AS(feature_kind("text").fit(c0.input_features[0], t0, t0.get("x"), {0}),
                       "the sentencepiece tokenizer is not available in a sanitizer build (KILN_SANITIZE)",
                       ModelError);
  return;
#endif
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
      doctest::Contains("tokenizer: unknown tokenizer 'spce'; did you mean 'space'?"), ConfigError);
  CHECK_THROWS_WITH_AS(
      parse_config("input_features: [{name: x, type: text, encoder: {type: transformer, num_heads: 3}}]\n"
                   "output_features: [{name: y, type: binary}]\n", "m.yaml"),
      doctest::Contains("num_heads: 3 does not divide hidden_size 256"), ConfigError);
  CHECK_THROWS_WITH_AS(
      parse_config("input_features: [{name: x, type: number}]\n"
                   "output_features: [{name: y, type: text, decoder: {type: taggr}}]\n", "m.yaml"),
      doctest::Contains("unknown decoder 'taggr' for text output"), ConfigError);
  CHECK_THROWS_WITH_AS(
      parse_config("input_features: [{name: x, type: number}]\n"
                   "output_features: [{name: y, type: image}]\n", "m.yaml"),
      doctest::Contains("output_features[0].type: Ludwig's output type 'image' is not available in Kiln"), ConfigError);
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
    text.output()->loss(f, m["out"], model.forward(b).at("out"), y).mean.backward();  // teacher forcing
    opt.step();
  }
  model.eval();
  auto logits = model.forward(b).at("out");  // greedy decoding
  CHECK(logits.sizes() == torch::IntArrayRef({4, 4, m["out"].vocab_size()}));
  auto metrics = text.output()->metrics(f, m["out"]);
  metrics->update(logits, y, text.output()->loss(f, m["out"], logits, y).sum);
  CHECK(metrics->value("token_accuracy") == 1.0);
  CHECK(metrics->value("sequence_accuracy") == 1.0);
  CHECK(metrics->value("perplexity") < 1.5);
  auto cols = text.output()->predictions(f, m["out"], logits);
  CHECK(cols[0].values == std::vector<std::string>{"red green blue", "green blue", "blue", "red red"});
}

// Sentences over a small vocabulary; each word's tag is its part of speech, except that a noun
// right after "big" is tagged ADJN (only a model that looks at the previous step gets it).
static std::string tagging_csv(int rows, unsigned seed) {
  const std::vector<std::pair<std::string, std::string>> words = {
      {"the", "DET"}, {"a", "DET"}, {"cat", "NOUN"}, {"dog", "NOUN"}, {"mat", "NOUN"},
      {"sat", "VERB"}, {"ran", "VERB"}, {"on", "ADP"}, {"big", "ADJ"}};
  std::mt19937 rng(seed);
  std::string csv = "words,tags\n";
  for (int r = 0; r < rows; ++r) {
    const int n = 2 + static_cast<int>(rng() % 6);
    std::string w, t, prev;
    for (int i = 0; i < n; ++i) {
      const auto& [word, tag] = words[rng() % words.size()];
      w += (i ? " " : "") + word;
      t += std::string(i ? " " : "") + (tag == "NOUN" && prev == "big" ? "ADJN" : tag);
      prev = word;
    }
    csv += w + "," + t + "\n";
  }
  return csv;
}

// Trains a tagging config on the sentences; returns its token accuracy on them and the predictions.
static std::pair<double, std::vector<std::string>> train_tagger(const std::string& yaml, int steps) {
  register_builtins();
  Table t = table(tagging_csv(160, 7), {"words", "tags"});
  Config c = parse_config(yaml, "m.yaml");
  std::vector<int64_t> rows(160);
  std::iota(rows.begin(), rows.end(), 0);
  MetadataMap m;
  Batch b;
  for (const auto* f : {&c.input_features[0], &c.output_features[0]}) {
    m[f->name] = feature_kind(f->type).fit(*f, t, t.get(f->column), rows);
    b[f->name] = feature_kind(f->type).encode(*f, m[f->name], t, t.get(f->column));
  }
  const auto& out = c.output_features[0];
  const auto& kind = feature_kind(out.type);
  torch::manual_seed(0);
  EcdModel model(c, m);
  torch::optim::Adam opt(model.parameters(), torch::optim::AdamOptions(0.01));
  model.train();
  for (int step = 0; step < steps; ++step) {
    opt.zero_grad();
    kind.output()->loss(out, m["tags"], model.forward(b).at("tags"), b["tags"]).mean.backward();
    opt.step();
  }
  model.eval();
  auto logits = model.forward(b).at("tags");
  CHECK(logits.sizes() == torch::IntArrayRef({160, m["words"].sequence_length, m["tags"].vocab_size()}));
  auto metrics = kind.output()->metrics(out, m["tags"]);
  metrics->update(logits, b["tags"], kind.output()->loss(out, m["tags"], logits, b["tags"]).sum);
  return {metrics->value("token_accuracy"), kind.output()->predictions(out, m["tags"], logits)[0].values};
}

TEST_CASE("tagger: one label per token, through sequence_concat and sequence combiners") {
  const std::string features =
      "input_features: [{name: words, type: sequence, encoder: {type: embed, embedding_size: 16, reduce_output: null}}]\n"
      "output_features: [{name: tags, type: sequence, decoder: {type: tagger}}]\n";
  Table t = table(tagging_csv(160, 7), {"words", "tags"});
  std::vector<std::string> truth;
  for (size_t r = 0; r < 160; ++r) truth.emplace_back(t.cell(t.get("tags"), r));

  // Per-token tags: the embedding of each step is enough, except ADJN.
  auto [acc, predicted] = train_tagger(features + "combiner: {type: sequence_concat}\n", 200);
  CHECK(acc > 0.85);
  // The tags follow the input: no label past the sentence's last word.
  for (size_t r = 0; r < 160; ++r) {
    const auto n = std::count(truth[r].begin(), truth[r].end(), ' ');
    CHECK(std::count(predicted[r].begin(), predicted[r].end(), ' ') == n);
  }
  // A recurrent encoder over the steps also sees the previous word: every tag right.
  auto [acc_rnn, predicted_rnn] = train_tagger(
      features + "combiner: {type: sequence, encoder: {type: rnn, cell_type: gru, state_size: 32}}\n", 200);
  CHECK(acc_rnn > 0.99);
  CHECK(predicted_rnn == truth);
}

TEST_CASE("sequence combiners and the tagger: wrong shapes give clear errors") {
  register_builtins();
  Table t = table(tagging_csv(20, 3), {"words", "tags"});
  auto build = [&](const std::string& yaml) {
    Config c = parse_config(yaml, "m.yaml");
    std::vector<int64_t> rows(20);
    std::iota(rows.begin(), rows.end(), 0);
    MetadataMap m;
    for (const auto* list : {&c.input_features, &c.output_features})
      for (const auto& f : *list) m[f.name] = feature_kind(f.type).fit(f, t, t.get(f.column), rows);
    EcdModel model(c, m);
  };
  const std::string tagger = "output_features: [{name: tags, type: sequence, decoder: {type: tagger}}]\n";
  CHECK_THROWS_WITH_AS(build("input_features: [{name: words, type: sequence}]\n" + tagger),
                       doctest::Contains("output feature 'tags': the tagger decoder labels every token, so the "
                                         "combiner must keep the sequence"),
                       ConfigError);
  CHECK_THROWS_WITH_AS(build("input_features: [{name: words, type: sequence}]\n" + tagger +
                             "combiner: {type: sequence_concat}\n"),
                       doctest::Contains("combiner 'sequence_concat': no input keeps its sequence; give a text, "
                                         "sequence or timeseries input an encoder with reduce_output: null"),
                       ConfigError);
  // A category output reads the kept sequence reduced by its reduce_input (sum by default); with
  // reduce_input none it would get the steps themselves, which only a tagger reads.
  CHECK_NOTHROW(build("input_features: [{name: words, type: sequence, encoder: {type: embed, reduce_output: null}}]\n"
                      "output_features: [{name: tags, type: category}]\ncombiner: {type: sequence_concat}\n"));
  CHECK_THROWS_WITH_AS(
      build("input_features: [{name: words, type: sequence, encoder: {type: embed, reduce_output: null}}]\n"
            "output_features: [{name: tags, type: category, reduce_input: null}]\ncombiner: {type: sequence_concat}\n"),
      doctest::Contains("output feature 'tags': the combiner keeps the sequence, which only a tagger decoder reads as "
                        "it is; give this category output a reduce_input"),
      ConfigError);
  CHECK_THROWS_WITH_AS(
      build("input_features: [{name: words, type: sequence, encoder: {type: embed, reduce_output: null}},\n"
            "  {name: tags, type: sequence, preprocessing: {max_sequence_length: 3}, encoder: {type: embed, reduce_output: null}}]\n"
            "output_features: [{name: y, type: category, column: words}]\n"
            "combiner: {type: sequence_concat, reduce_output: sum}\n"),
      doctest::Contains("input feature 'tags' has 3 steps and the main sequence feature 'words' has "),
      ConfigError);
  // With a reduction, the sequence combiners feed any decoder.
  build("input_features: [{name: words, type: sequence, encoder: {type: embed, reduce_output: null}}]\n"
        "output_features: [{name: y, type: category, column: tags}]\n"
        "combiner: {type: sequence, reduce_output: mean, encoder: {type: rnn}}\n");
}
