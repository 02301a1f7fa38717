#include <doctest/doctest.h>
#include <torch/torch.h>

#include <cmath>

#include "config/config.h"
#include "config/schema.h"
#include "data/split.h"
#include "features/feature.h"
#include "train/trainer.h"
#include "util/error.h"

using namespace kiln;

static Table table(const std::string& csv, std::vector<std::string> cols) {
  ReadOptions o;
  o.columns = std::move(cols);
  return read_csv_text(csv, "t.csv", ',', o);
}

static Config config(const std::string& features) {
  return parse_config(features, "m.yaml");
}

TEST_CASE("category vocabulary: training rows only, by frequency, ties by value, <UNK> first") {
  Table t = table("c\nb\na\nb\nz\na\nc\nq\n", {"c"});
  Config cfg = config(
      "input_features: [{name: c, type: category}]\noutput_features: [{name: c2, type: binary, column: c}]\n");
  const auto& f = cfg.input_features[0];
  std::vector<int64_t> train = {0, 1, 2, 3, 4, 5};  // b a b z a c; row 6 (q) is not training
  auto m = feature_kind("category").fit(f, t, t.get("c"), train);
  CHECK(m.idx2str == std::vector<std::string>{"<UNK>", "a", "b", "c", "z"});
  CHECK(m.str2freq == std::vector<int64_t>{0, 2, 2, 1, 1});
  auto e = feature_kind("category").encode(f, m, t, t.get("c"));
  CHECK(e[6].item<int64_t>() == 0);  // unseen in training → <UNK>
  CHECK(e[0].item<int64_t>() == 2);
}

TEST_CASE("category output: training labels only; unseen labels are ignored by the loss") {
  Table t = table("y\nx\ny\ny\nw\n", {"y"});
  Config cfg = config("input_features: [{name: a, type: number, column: y}]\n"
                      "output_features: [{name: y, type: category, loss: {class_weights: {x: 3}}}]\n");
  const auto& f = cfg.output_features[0];
  auto m = feature_kind("category").fit(f, t, t.get("y"), {0, 1, 2});
  CHECK(m.idx2str == std::vector<std::string>{"y", "x"});
  auto e = feature_kind("category").encode(f, m, t, t.get("y"));
  CHECK(e[3].item<int64_t>() == -100);
  // class weights {x: 3}: weighted mean over rows with known labels
  auto logits = torch::tensor({{0.0f, 0.0f}, {0.0f, 0.0f}});
  auto target = torch::tensor({1, 0}, torch::kLong);
  auto l = output_kind("category").loss(f, m, logits, target);
  CHECK(l.mean.item<double>() == doctest::Approx(std::log(2.0)));  // (3 ln2 + ln2) / 4
  CHECK(l.sum == doctest::Approx(4 * std::log(2.0)));
}

TEST_CASE("label smoothing matches the formula") {
  Config cfg = config("input_features: [{name: a, type: number}]\n"
                      "output_features: [{name: y, type: category, loss: {label_smoothing: 0.2}}]\n");
  FeatureMetadata m;
  m.idx2str = {"p", "q", "r", "s"};
  m.index();
  auto logits = torch::tensor({{2.0f, 0.0f, 0.0f, 0.0f}});
  auto l = output_kind("category").loss(cfg.output_features[0], m, logits, torch::tensor({0}, torch::kLong));
  auto logp = torch::log_softmax(logits, 1)[0];
  double expected = -(0.8 + 0.05) * logp[0].item<double>() -
                    0.05 * (logp[1] + logp[2] + logp[3]).item<double>();
  CHECK(l.mean.item<double>() == doctest::Approx(expected));
}

TEST_CASE("binary: spellings, fallback_true_label, positive_class_weight") {
  Table t = table("g\nMale\nFemale\nMale\n\"\"\n", {"g"});  // "" : missing (blank lines are skipped)
  Config cfg = config(
      "input_features: [{name: g, type: binary, preprocessing: {fallback_true_label: Female}}]\n"
      "output_features: [{name: y, type: binary, loss: {positive_class_weight: 3}}]\n");
  const auto& f = cfg.input_features[0];
  auto m = feature_kind("binary").fit(f, t, t.get("g"), {0, 1, 2, 3});
  CHECK(m.true_label == "Female");
  CHECK(m.false_label == "Male");
  auto e = feature_kind("binary").encode(f, m, t, t.get("g"));
  CHECK(e.equal(torch::tensor({0.0f, 1.0f, 0.0f, 0.0f})));  // missing → false
  auto l = output_kind("binary").loss(cfg.output_features[0], m, torch::tensor({0.0f, 0.0f}),
                                       torch::tensor({1.0f, 0.0f}));
  CHECK(l.mean.item<double>() == doctest::Approx((3 * std::log(2.0) + std::log(2.0)) / 2));
  Table yes = table("v\nyes\nNo\nTRUE\n0\n", {"v"});
  Config c2 = config("input_features: [{name: v, type: binary}]\noutput_features: [{name: y, type: binary}]\n");
  auto m2 = feature_kind("binary").fit(c2.input_features[0], yes, yes.get("v"), {0, 1, 2, 3});
  auto e2 = feature_kind("binary").encode(c2.input_features[0], m2, yes, yes.get("v"));
  CHECK(e2.equal(torch::tensor({1.0f, 0.0f, 1.0f, 0.0f})));
}

TEST_CASE("number: statistics from training rows, fill and normalization") {
  Table t = table("x\n1\n2\n\"\"\n3\n100\n", {"x"});
  Config cfg = config(
      "input_features: [{name: x, type: number, preprocessing: {missing_value_strategy: fill_with_mean}}]\n"
      "output_features: [{name: y, type: binary}]\n");
  const auto& f = cfg.input_features[0];
  auto [m, e] = feature_kind("number").fit_encode(f, t, t.get("x"), {0, 1, 2, 3});  // not 100
  CHECK(m.mean == doctest::Approx(2.0));
  CHECK(m.std == doctest::Approx(std::sqrt(2.0 / 3)));
  CHECK(m.training_missing == 1);
  CHECK(m.q2 == doctest::Approx(2.0));
  CHECK(e[2].item<float>() == doctest::Approx(0.0));  // missing → mean → 0 after zscore
  CHECK(e[4].item<float>() == doctest::Approx(98 / std::sqrt(2.0 / 3)));
  auto enc = feature_kind("number").encode(f, m, t, t.get("x"));
  CHECK(torch::allclose(enc, e));
  std::string err;
  try {
    Table bad = table("x\n1\nforty\n", {"x"});
    feature_kind("number").fit(f, bad, bad.get("x"), {0, 1});
  } catch (const DataError& ex) {
    err = ex.what();
  }
  CHECK(err == "t.csv:3: column 'x': 'forty' is not a number");
}

TEST_CASE("splits: fixed, random proportions, stratified ratios, hash by value") {
  std::string csv = "s,y\n";
  for (int i = 0; i < 1000; ++i) csv += std::to_string(i % 3) + "," + (i % 10 == 0 ? "a" : "b") + "\n";
  Table t = table(csv, {"s", "y"});
  std::vector<uint8_t> keep(1000, 1);
  PreprocessingConfig p;
  p.split.type = "fixed";
  p.split.column = "s";
  auto s = split_rows(t, p, 42, keep);
  CHECK(s.train.size() == 334);
  CHECK(s.validation.size() == 333);
  p.split.type = "random";
  s = split_rows(t, p, 42, keep);
  CHECK(s.train.size() > 650);
  CHECK(s.train.size() < 750);
  CHECK(s.train.size() + s.validation.size() + s.test.size() == 1000);
  p.split.type = "stratify";
  p.split.column = "y";
  s = split_rows(t, p, 42, keep);
  int a = 0;
  for (auto r : s.train) a += (r % 10 == 0);
  CHECK(a == 70);  // 70 % of the 100 'a' rows
  CHECK(s.train.size() == 700);
  p.split.type = "hash";
  p.split.column = "s";
  s = split_rows(t, p, 7, keep);
  // every row with the same value lands in the same split
  std::set<int64_t> seen;
  for (auto r : s.train) seen.insert(r % 3);
  for (auto r : s.test) CHECK(seen.count(r % 3) == 0);
}

TEST_CASE("splits: datetime orders rows by their time (earliest train, latest test); bad times named") {
  // 10 rows, out of order, in two formats; row 6 is dropped.
  Table t = table("d,y\n2024-01-05,1\n2024-01-02 12:00:00,1\n2024-01-09,1\n2024-01-01,1\n2024-01-07,1\n"
                  "2024-01-03,1\n2024-01-10,1\n2024-01-04,1\n2024-01-08,1\n2024-01-06,1\n",
                  {"d", "y"});
  std::vector<uint8_t> keep(10, 1);
  keep[6] = 0;  // 2024-01-10
  PreprocessingConfig p;
  p.split.type = "datetime";
  p.split.column = "d";
  p.split.probabilities = {0.6, 0.2, 0.2};
  auto s = split_rows(t, p, 42, keep);
  // 9 kept rows by time: 01 (row 3), 02 (1), 03 (5), 04 (7), 05 (0) | 06 (9), 07 (4) | 08 (8), 09 (2)
  CHECK(s.train == std::vector<int64_t>{0, 1, 3, 5, 7});
  CHECK(s.validation == std::vector<int64_t>{4, 9});
  CHECK(s.test == std::vector<int64_t>{2, 8});
  Table bad = table("d,y\n2024-01-05,1\nsoon,1\n", {"d", "y"});
  std::vector<uint8_t> keep2(2, 1);
  CHECK_THROWS_WITH_AS(split_rows(bad, p, 42, keep2),
                       "t.csv:3: column 'd': 'soon' is not a date or time (the datetime split orders rows by "
                       "it; e.g. 2024-01-31 or 2024-01-31 13:45:00)",
                       DataError);
}

TEST_CASE("learning-rate schedules") {
  Config c = config("input_features: [{name: a, type: number}]\noutput_features: [{name: y, type: binary}]\n"
                    "trainer: {learning_rate: 0.1, learning_rate_scheduler: {decay: linear, warmup_fraction: 0.1}}\n");
  CHECK(scheduled_lr(c, 0, 100, 10) == doctest::Approx(0.01));
  CHECK(scheduled_lr(c, 9, 100, 10) == doctest::Approx(0.1));
  CHECK(scheduled_lr(c, 55, 100, 10) == doctest::Approx(0.05));
  c.trainer.learning_rate_scheduler.decay = "cosine";
  c.trainer.learning_rate_scheduler.warmup_fraction = 0;
  CHECK(scheduled_lr(c, 50, 100, 10) == doctest::Approx(0.05));
  CHECK(scheduled_lr(c, 100, 100, 10) == doctest::Approx(0.0));
  c.trainer.learning_rate_scheduler.decay = "exponential";
  c.trainer.learning_rate_scheduler.decay_steps = 10;
  c.trainer.learning_rate_scheduler.decay_rate = 0.5;
  CHECK(scheduled_lr(c, 20, 100, 10) == doctest::Approx(0.025));
}

TEST_CASE("a type has an output side exactly when its schema admits it as an output") {
  for (const auto& type : feature_schemas().names()) {
    CAPTURE(type);
    CHECK(feature_schemas().find(type)->can_output == (feature_kind(type).output() != nullptr));
  }
}

TEST_CASE("open-set losses: known rows' cross-entropy, the background class's negative entropy (Ludwig's)") {
  FeatureMetadata m;
  m.idx2str = {"a", "b", "unknown"};
  m.index();
  auto logits = torch::tensor({{2.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f}});
  auto y = torch::tensor({0, 2}, torch::kLong);
  const double ce = std::log(1 + 2 * std::exp(-2.0));
  const double negent = -std::log(3.0);  // uniform over 3 classes
  auto loss = [&](const std::string& spec) {
    Config cfg = config("input_features: [{name: x, type: number}]\n"
                        "output_features: [{name: y, type: category, loss: " + spec + "}]\n");
    return output_kind("category").loss(cfg.output_features[0], m, logits, y).mean.item<double>();
  };
  CHECK(loss("{type: entropic_open_set, background_class: unknown}") == doctest::Approx(ce + negent).epsilon(1e-5));
  CHECK(loss("{type: entropic_open_set, background_class: 2}") == doctest::Approx(ce + negent).epsilon(1e-5));
  // objectosphere: + (xi - |[2, 0, 0]|)^2 on the known row, + zeta |0|^2 on the unknown one.
  CHECK(loss("{type: objectosphere, background_class: unknown, xi: 10, zeta: 0.1}") ==
        doctest::Approx(ce + 64 + negent).epsilon(1e-5));
  // Without a background class every row is known: the mean cross-entropy.
  CHECK(loss("{type: entropic_open_set}") == doctest::Approx((ce + std::log(3.0)) / 2).epsilon(1e-5));
  // A background class that is neither a training label nor an index is refused at fit.
  Table t = table("y\na\nb\n", {"y"});
  Config cfg = config("input_features: [{name: x, type: number, column: y}]\n"
                      "output_features: [{name: y, type: category, loss: {type: objectosphere, background_class: zz}}]\n");
  std::string msg;
  try {
    feature_kind("category").fit(cfg.output_features[0], t, t.get("y"), {0, 1});
  } catch (const DataError& e) {
    msg = e.what();
  }
  CHECK(msg == "t.csv: output feature 'y': loss.background_class 'zz' is neither a label of the training rows nor "
               "an index below 2");
}
