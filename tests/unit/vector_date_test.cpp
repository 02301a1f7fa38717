// vector and date features: parsing, sizes, and errors that name row, column and the problem.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <algorithm>

#include "config/config.h"
#include "config/schema.h"
#include "model/ecd.h"
#include "features/feature.h"
#include "util/error.h"

using namespace kiln;

static Table table(const std::string& csv, std::vector<std::string> cols) {
  ReadOptions o;
  o.columns = std::move(cols);
  return read_csv_text(csv, "t.csv", ',', o);
}

static Config one_input(const std::string& feature) {
  return parse_config("input_features: [" + feature + "]\noutput_features: [{name: y, type: number}]\n",
                      "m.yaml");
}

TEST_CASE("vector: size from the first training row; zeros when missing; bad values named") {
  Table t = table("v,y\n1 2.5 -3,1\n,2\n4 5 6,3\n", {"v", "y"});
  Config c = one_input("{name: v, type: vector}");
  const auto& k = feature_kind("vector");
  auto m = k.fit(c.input_features[0], t, t.get("v"), {0, 1, 2});
  CHECK(m.sequence_length == 3);
  auto e = k.encode(c.input_features[0], m, t, t.get("v"));
  CHECK(e.equal(torch::tensor({1.0f, 2.5f, -3.0f, 0.0f, 0.0f, 0.0f, 4.0f, 5.0f, 6.0f}).reshape({3, 3})));
  Table bad = table("v,y\n1 2 3,1\n1 x 3,2\n", {"v", "y"});
  CHECK_THROWS_WITH_AS(k.encode(c.input_features[0], m, bad, bad.get("v")),
                       "t.csv:3: input feature 'v' (column 'v'): value 2 'x' is not a number "
                       "(expected space-separated numbers)",
                       DataError);
  Table short_row = table("v,y\n1 2 3,1\n1 2,2\n", {"v", "y"});
  CHECK_THROWS_WITH_AS(k.encode(c.input_features[0], m, short_row, short_row.get("v")),
                       "t.csv:3: input feature 'v' (column 'v'): 2 values, expected 3 (the vector_size)",
                       DataError);
}

TEST_CASE("date: common formats or datetime_format; components; bad dates named") {
  Table t = table("d,y\n2024-02-29,1\n2023-12-31 23:59:58,2\n03/01/2024,3\n", {"d", "y"});
  Config c = one_input("{name: d, type: date}");
  const auto& k = feature_kind("date");
  auto m = k.fit(c.input_features[0], t, t.get("d"), {0, 1, 2});
  CHECK(m.mean == doctest::Approx((2024 + 2023 + 2024) / 3.0));
  auto e = k.encode(c.input_features[0], m, t, t.get("d"));
  // year, month-1, day-1, weekday (Mon = 0), yearday-1, hour, minute, second, second of day
  CHECK(e[0].equal(torch::tensor({2024, 1, 28, 3, 59, 0, 0, 0, 0}, torch::kLong)));
  CHECK(e[1].equal(torch::tensor({2023, 11, 30, 6, 364, 23, 59, 58, 86398}, torch::kLong)));
  CHECK(e[2][1].item<int64_t>() == 2);  // %m/%d/%Y: March
  Table bad = table("d,y\n2024-02-30,1\n", {"d", "y"});
  CHECK_THROWS_WITH_AS(k.encode(c.input_features[0], m, bad, bad.get("d")),
                       "t.csv:2: input feature 'd' (column 'd'): '2024-02-30' is not a date (set "
                       "preprocessing.datetime_format, e.g. '%Y-%m-%d')",
                       DataError);
  Config f = one_input("{name: d, type: date, preprocessing: {datetime_format: '%d/%m/%Y'}}");
  Table eu = table("d,y\n03/01/2024,1\n2024-01-03,2\n", {"d", "y"});
  Table day_first = table("d,y\n03/01/2024,1\n", {"d", "y"});
  CHECK(k.encode(f.input_features[0], m, day_first, day_first.get("d"))[0][1].item<int64_t>() == 0);
  CHECK_THROWS_WITH_AS(k.encode(f.input_features[0], m, eu, eu.get("d")),
                       "t.csv:3: input feature 'd' (column 'd'): '2024-01-03' does not match "
                       "datetime_format '%d/%m/%Y'",
                       DataError);
}

TEST_CASE("date: fill_value is the date a missing value reads as (Ludwig's key); a bad one is named") {
  Table t = table("d,y\n2024-02-29,1\n,2\n", {"d", "y"});
  const auto& k = feature_kind("date");
  Config c = one_input("{name: d, type: date, preprocessing: {fill_value: '2000-01-02'}}");
  auto m = k.fit(c.input_features[0], t, t.get("d"), {0, 1});
  auto e = k.encode(c.input_features[0], m, t, t.get("d"));
  CHECK(e[1].equal(torch::tensor({2000, 0, 1, 6, 1, 0, 0, 0, 0}, torch::kLong)));  // a Sunday
  Config zeros = one_input("{name: d, type: date}");
  CHECK(k.encode(zeros.input_features[0], m, t, t.get("d"))[1].equal(torch::zeros({9}, torch::kLong)));
  Config bad = one_input("{name: d, type: date, preprocessing: {fill_value: UNKNOWN}}");
  CHECK_THROWS_WITH_AS(k.encode(bad.input_features[0], m, t, t.get("d")),
                       "t.csv: input feature 'd': preprocessing.fill_value 'UNKNOWN' is not a date", DataError);
}

TEST_CASE("vector output: the projector learns a linear map; mse, mae and r2 over every value") {
  register_builtins();
  Config c = parse_config(
      "input_features: [{name: x, type: vector}]\n"
      "output_features: [{name: y, type: vector}]\ncombiner: {type: concat}\n",
      "m.yaml");
  MetadataMap m;
  m["x"].name = "x", m["x"].type = "vector", m["x"].sequence_length = 5;
  m["y"].name = "y", m["y"].type = "vector", m["y"].sequence_length = 3;
  torch::manual_seed(0);
  EcdModel model(c, m);
  auto x = torch::randn({128, 5});
  auto y = torch::mm(x, torch::randn({5, 3}));
  Batch b = {{"x", x}, {"y", y}};
  torch::optim::Adam opt(model.parameters(), torch::optim::AdamOptions(0.01));
  const auto& k = feature_kind("vector");
  for (int step = 0; step < 300; ++step) {
    opt.zero_grad();
    k.output()->loss(c.output_features[0], m["y"], model.forward(b).at("y"), y).mean.backward();
    opt.step();
  }
  auto logits = model.forward(b).at("y");
  CHECK(logits.sizes() == torch::IntArrayRef({128, 3}));
  auto metrics = k.output()->metrics(c.output_features[0], m["y"]);
  metrics->update(logits, y, 0);
  CHECK(metrics->value("r2") > 0.9);
  CHECK(metrics->value("mean_squared_error") == doctest::Approx((logits - y).pow(2).mean().item<double>()).epsilon(1e-4));
  auto cols = k.output()->predictions(c.output_features[0], m["y"], logits.slice(0, 0, 2));
  CHECK(cols[0].name == "y_predictions");
  CHECK(std::count(cols[0].values[0].begin(), cols[0].values[0].end(), ' ') == 2);
}
