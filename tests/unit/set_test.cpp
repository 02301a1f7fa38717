// set and bag features: vocabulary from the training rows, multi-hot and count rows, unseen
// tokens, the multi-label loss, jaccard, and prediction columns; a model with a set input and a
// set output learns a simple rule.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include "config/config.h"
#include "config/schema.h"
#include "features/feature.h"
#include "model/ecd.h"
#include "util/error.h"

using namespace kiln;

static Table table(const std::string& csv, std::vector<std::string> cols) {
  ReadOptions o;
  o.columns = std::move(cols);
  return read_csv_text(csv, "t.csv", ',', o);
}

TEST_CASE("set input: vocabulary by frequency, multi-hot rows, <UNK> for unseen and missing") {
  register_builtins();
  Table t = table("tags,y\nred blue,1\nblue,2\n,3\nblue green,4\nviolet,5\n", {"tags", "y"});
  Config c = parse_config("input_features: [{name: tags, type: set}]\noutput_features: [{name: y, type: number}]\n",
                          "m.yaml");
  const auto& k = feature_kind("set");
  auto m = k.fit(c.input_features[0], t, t.get("tags"), {0, 1, 2, 3});
  CHECK(m.idx2str == std::vector<std::string>{"<UNK>", "blue", "green", "red"});
  auto e = k.encode(c.input_features[0], m, t, t.get("tags"));
  CHECK(e.equal(torch::tensor({0.f, 1.f, 0.f, 1.f,  //
                               0.f, 1.f, 0.f, 0.f,  //
                               1.f, 0.f, 0.f, 0.f,  // missing
                               0.f, 1.f, 1.f, 0.f,  //
                               1.f, 0.f, 0.f, 0.f})  // unseen
                    .reshape({5, 4})));
}

TEST_CASE("bag input counts repeated tokens") {
  Table t = table("words,y\na b a,1\nb,2\n", {"words", "y"});
  Config c = parse_config("input_features: [{name: words, type: bag}]\noutput_features: [{name: y, type: number}]\n",
                          "m.yaml");
  const auto& k = feature_kind("bag");
  auto m = k.fit(c.input_features[0], t, t.get("words"), {0, 1});
  CHECK(m.idx2str == std::vector<std::string>{"<UNK>", "a", "b"});
  auto e = k.encode(c.input_features[0], m, t, t.get("words"));
  CHECK(e.equal(torch::tensor({0.f, 2.f, 1.f, 0.f, 0.f, 1.f}).reshape({2, 3})));
}

TEST_CASE("set output: tokens unseen in training are left out; jaccard; prediction columns") {
  Table t = table("x,labels\n1,a b\n2,b\n3,c\n4,a z\n", {"x", "labels"});
  Config c = parse_config("input_features: [{name: x, type: number}]\noutput_features: [{name: labels, type: set}]\n",
                          "m.yaml");
  const auto& f = c.output_features[0];
  const auto& k = feature_kind("set");
  auto m = k.fit(f, t, t.get("labels"), {0, 1, 2});
  CHECK(m.idx2str == std::vector<std::string>{"b", "a", "c"});
  auto y = k.encode(f, m, t, t.get("labels"));
  CHECK(y[3].equal(torch::tensor({0.f, 1.f, 0.f})));  // "z" was never seen
  // logits predicting {b} for row 0 (truth {a, b}: jaccard 1/2) and {} for row 1 (truth {b}: 0)
  auto logits = torch::tensor({5.f, -5.f, -5.f, -5.f, -5.f, -5.f}).reshape({2, 3});
  auto target = y.slice(0, 0, 2);
  auto l = k.output()->loss(f, m, logits, target);
  CHECK(l.rows.sizes() == torch::IntArrayRef({2}));
  auto metrics = k.output()->metrics(f, m);
  metrics->update(logits, target, l.sum);
  CHECK(metrics->value("jaccard") == doctest::Approx(0.25));
  auto cols = k.output()->predictions(f, m, logits);
  CHECK(cols[0].name == "labels_predictions");
  CHECK(cols[0].values == std::vector<std::string>{"b", ""});
  CHECK(cols[1].name == "labels_probabilities_b");
}

TEST_CASE("a set-to-set model learns to copy its input tokens") {
  Config c = parse_config(
      "input_features: [{name: i, type: set, encoder: {type: embed, num_fc_layers: 1, output_size: 32}}]\n"
      "output_features: [{name: o, type: set}]\ncombiner: {type: concat}\n",
      "m.yaml");
  MetadataMap m;
  m["i"].name = "i", m["i"].type = "set", m["i"].idx2str = {"<UNK>", "a", "b", "c"};
  m["o"].name = "o", m["o"].type = "set", m["o"].idx2str = {"a", "b", "c"};
  m["i"].index(), m["o"].index();
  torch::manual_seed(0);
  EcdModel model(c, m);
  auto x = torch::randint(0, 2, {64, 3}).to(torch::kFloat32);
  Batch b = {{"i", torch::cat({torch::zeros({64, 1}), x}, 1)}, {"o", x}};
  torch::optim::Adam opt(model.parameters(), torch::optim::AdamOptions(0.05));
  const auto& k = feature_kind("set");
  for (int step = 0; step < 150; ++step) {
    opt.zero_grad();
    auto l = k.output()->loss(c.output_features[0], m["o"], model.forward(b).at("o"), x);
    l.mean.backward();
    opt.step();
  }
  auto metrics = k.output()->metrics(c.output_features[0], m["o"]);
  metrics->update(model.forward(b).at("o"), x, 0);
  CHECK(metrics->value("jaccard") > 0.95);
}
