// timeseries inputs: length from the training rows (capped by timeseries_length_limit), padding,
// truncation, errors naming row and value; a parallel-CNN model learns from series.
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

static Config ts_config(const std::string& prep) {
  return parse_config("input_features: [{name: s, type: timeseries" + prep +
                          "}]\noutput_features: [{name: y, type: number}]\n",
                      "m.yaml");
}

TEST_CASE("timeseries: padded to the longest training row, truncated past it, missing = padding") {
  register_builtins();
  Table t = table("s,y\n1 2 3,1\n4 5,2\n,3\n6 7 8 9,4\n", {"s", "y"});
  Config c = ts_config("");
  const auto& k = feature_kind("timeseries");
  auto m = k.fit(c.input_features[0], t, t.get("s"), {0, 1, 2});
  CHECK(m.sequence_length == 3);
  auto e = k.encode(c.input_features[0], m, t, t.get("s"));
  CHECK(e.equal(torch::tensor({1.f, 2.f, 3.f, 4.f, 5.f, 0.f, 0.f, 0.f, 0.f, 6.f, 7.f, 8.f}).reshape({4, 3})));
  Config left = ts_config(", preprocessing: {padding: left, padding_value: -1, timeseries_length_limit: 2}");
  auto ml = k.fit(left.input_features[0], t, t.get("s"), {0, 1, 2});
  CHECK(ml.sequence_length == 2);
  auto el = k.encode(left.input_features[0], ml, t, t.get("s"));
  CHECK(el.equal(torch::tensor({1.f, 2.f, 4.f, 5.f, -1.f, -1.f, 6.f, 7.f}).reshape({4, 2})));
}

TEST_CASE("timeseries: a malformed value names row, column and position") {
  Table t = table("s,y\n1 2 3,1\n1 x 3,2\n", {"s", "y"});
  Config c = ts_config("");
  const auto& k = feature_kind("timeseries");
  CHECK_THROWS_WITH(k.fit(c.input_features[0], t, t.get("s"), {0, 1}),
                    "t.csv:3: input feature 's' (column 's'): value 2 'x' is not a number (expected a series of "
                    "space-separated numbers)");
}

TEST_CASE("timeseries: every encoder learns whether a series rises or falls") {
  for (const char* enc : {"parallel_cnn", "rnn", "transformer", "passthrough"}) {
    Config c = parse_config(std::string("input_features: [{name: s, type: timeseries, encoder: {type: ") + enc +
                                "}}]\noutput_features: [{name: y, type: binary}]\n",
                            "m.yaml");
    MetadataMap m;
    m["s"].name = "s", m["s"].type = "timeseries", m["s"].sequence_length = 8;
    m["y"].name = "y", m["y"].type = "binary";
    torch::manual_seed(0);
    EcdModel model(c, m);
    auto slope = torch::randn({96, 1});
    auto x = slope * torch::arange(8, torch::kFloat32).unsqueeze(0) + 0.1 * torch::randn({96, 8});
    auto y = (slope.squeeze(1) > 0).to(torch::kFloat32);
    Batch b = {{"s", x}, {"y", y}};
    torch::optim::Adam opt(model.parameters(), torch::optim::AdamOptions(0.003));
    const auto& k = feature_kind("binary");
    model.train();
    for (int step = 0; step < 200; ++step) {
      opt.zero_grad();
      k.output()->loss(c.output_features[0], m["y"], model.forward(b).at("y"), y).mean.backward();
      opt.step();
    }
    model.eval();
    auto acc = ((model.forward(b).at("y") > 0).to(torch::kFloat32) == y).to(torch::kFloat32).mean().item<double>();
    CAPTURE(enc);
    CHECK(acc > 0.9);
  }
}

TEST_CASE("timeseries: window_size and horizon read a column of observations (Ludwig's forecasting layout)") {
  register_builtins();
  Table t = table("x,z\n1,a\n2,a\n3,a\n,a\n5,a\n6,a\n7,a\n8,a\n", {"x", "z"});
  Config c = parse_config(
      "input_features: [{name: x, type: timeseries, preprocessing: {window_size: 3, padding_value: -1}}]\n"
      "output_features: [{name: next, type: timeseries, column: x, preprocessing: {horizon: 2}}]\n",
      "m.yaml");
  const auto& k = feature_kind("timeseries");
  const FeatureConfig& in = c.input_features[0];
  const FeatureConfig& out = c.output_features[0];
  auto mi = k.fit(in, t, t.get("x"), {0, 1, 2, 3, 4});
  auto mo = k.fit(out, t, t.get("x"), {0, 1, 2, 3, 4});
  CHECK(mi.sequence_length == 3);
  CHECK(mo.sequence_length == 2);
  CHECK(k.output()->output_size(out, mo) == 2);
  // Inputs: the window ending at the row, padding_value before the first row and for the missing one.
  auto ei = k.encode(in, mi, t, t.get("x"));
  CHECK(ei.equal(torch::tensor({-1.f, -1.f, 1.f, -1.f, 1.f, 2.f, 1.f, 2.f, 3.f, 2.f, 3.f, -1.f,
                                3.f, -1.f, 5.f, -1.f, 5.f, 6.f, 5.f, 6.f, 7.f, 6.f, 7.f, 8.f})
                     .reshape({8, 3})));
  // Outputs: the two observations after the row.
  auto eo = k.encode(out, mo, t, t.get("x"));
  CHECK(eo[0].equal(torch::tensor({2.f, 3.f})));
  CHECK(eo[4].equal(torch::tensor({6.f, 7.f})));
  CHECK(eo[5].equal(torch::tensor({7.f, 8.f})));
  // Rows whose horizon crosses the missing observation (rows 1 and 2) or runs past the end (6, 7)
  // are left out; the missing row itself has a complete target.
  std::vector<uint8_t> keep(8, 1);
  k.mark_dropped(out, t, t.get("x"), keep);
  CHECK(keep == std::vector<uint8_t>{1, 0, 0, 1, 1, 1, 0, 0});
  // The input's drop_row leaves out the row without an observation only.
  Config drop = parse_config(
      "input_features: [{name: x, type: timeseries, preprocessing: {window_size: 2, missing_value_strategy: drop_row}}]\n"
      "output_features: [{name: y, type: number}]\n",
      "m.yaml");
  std::vector<uint8_t> keep_in(8, 1);
  k.mark_dropped(drop.input_features[0], t, t.get("x"), keep_in);
  CHECK(keep_in == std::vector<uint8_t>{1, 1, 1, 0, 1, 1, 1, 1});
  // One observation per row: a series in a cell is an error naming row and key.
  Table two = table("x\n1\n2 3\n", {"x"});
  CHECK_THROWS_WITH_AS(k.encode(in, mi, two, two.get("x")),
                       "t.csv:3: input feature 'x' (column 'x'): 2 values, expected one observation per row "
                       "(preprocessing.window_size reads the column one row at a time)",
                       DataError);
}

TEST_CASE("timeseries outputs: huber by default; forecasting metrics against hand-computed values") {
  register_builtins();
  Config c = parse_config(
      "input_features: [{name: x, type: number}]\noutput_features: [{name: f, type: timeseries}]\n", "m.yaml");
  const FeatureConfig& f = c.output_features[0];
  CHECK(f.loss.type == "huber");
  FeatureMetadata m;
  m.name = "f", m.type = "timeseries", m.sequence_length = 3;
  const OutputKind& o = *feature_kind("timeseries").output();
  auto pred = torch::tensor({1.f, 2.f, 3.f, 0.f, 0.f, 4.f}).reshape({2, 3});
  auto target = torch::tensor({1.f, 3.f, 5.f, 0.f, 2.f, 2.f}).reshape({2, 3});
  // Huber (delta 1) per value: row 0: 0, 0.5, 1.5 -> 2/3; row 1: 0, 1.5, 1.5 -> 1.
  auto l = o.loss(f, m, pred, target);
  CHECK(l.rows[0].item<double>() == doctest::Approx(2.0 / 3));
  CHECK(l.rows[1].item<double>() == doctest::Approx(1.0));
  auto metrics = o.metrics(f, m);
  metrics->update(pred, target, l.sum);
  // errors: 0 1 2 / 0 2 2 -> sse 13, sae 7 over 6 values
  CHECK(metrics->value("mean_squared_error") == doctest::Approx(13.0 / 6));
  CHECK(metrics->value("root_mean_squared_error") == doctest::Approx(std::sqrt(13.0 / 6)));
  CHECK(metrics->value("mean_absolute_error") == doctest::Approx(7.0 / 6));
  // MASE: row 0 MAE 1 over mean step (2 + 2) / 2 = 2 -> 0.5; row 1 MAE 4/3 over (2 + 0) / 2 = 1 -> 4/3.
  CHECK(metrics->value("mean_absolute_scaled_error") == doctest::Approx((0.5 + 4.0 / 3) / 2).epsilon(1e-6));
  // sMAPE per value 200 |e| / (|y| + |p|): 0, 200/5, 400/8, 0 (0/0 counts 0), 400/2, 400/6.
  CHECK(metrics->value("symmetric_mean_absolute_percentage_error") ==
        doctest::Approx((40.0 + 50.0 + 200.0 + 400.0 / 6) / 6).epsilon(1e-6));
  auto cols = o.predictions(f, m, pred);
  REQUIRE(cols.size() == 1);
  CHECK(cols[0].name == "f_predictions");
  CHECK(cols[0].values[1] == "0 0 4");
}

TEST_CASE("timeseries: nbeats and patchtst learn to forecast a sine's next steps") {
  register_builtins();
  for (const char* enc : {"nbeats", "patchtst"}) {
    Config c = parse_config(std::string("input_features: [{name: s, type: timeseries, encoder: {type: ") + enc +
                                ", output_size: 32}}]\n"
                                "output_features: [{name: f, type: timeseries, loss: {type: mean_squared_error}}]\n",
                            "m.yaml");
    MetadataMap m;
    m["s"].name = "s", m["s"].type = "timeseries", m["s"].sequence_length = 24;
    m["f"].name = "f", m["f"].type = "timeseries", m["f"].sequence_length = 4;
    torch::manual_seed(0);
    EcdModel model(c, m);
    auto phase = torch::rand({128, 1}) * 6.2832;
    auto steps = torch::arange(28, torch::kFloat32).unsqueeze(0) * 0.4;
    auto series = torch::sin(phase + steps);
    auto x = series.slice(1, 0, 24), y = series.slice(1, 24, 28);
    Batch b = {{"s", x}, {"f", y}};
    torch::optim::Adam opt(model.parameters(), torch::optim::AdamOptions(0.003));
    const auto& k = *feature_kind("timeseries").output();
    model.train();
    for (int step = 0; step < 150; ++step) {
      opt.zero_grad();
      k.loss(c.output_features[0], m["f"], model.forward(b).at("f"), y).mean.backward();
      opt.step();
    }
    model.eval();
    torch::NoGradGuard no_grad;
    const double mse = (model.forward(b).at("f") - y).pow(2).mean().item<double>();
    CAPTURE(enc);
    CHECK(mse < 0.02);  // the series' variance is 0.5
  }
}

TEST_CASE("patchtst: a series shorter than one patch is padded to one patch") {
  register_builtins();
  Config c = parse_config(
      "input_features: [{name: s, type: timeseries, encoder: {type: patchtst, patch_size: 16, d_model: 8, "
      "num_heads: 2, output_size: 5}}]\noutput_features: [{name: y, type: number}]\n",
      "m.yaml");
  MetadataMap m;
  m["s"].name = "s", m["s"].type = "timeseries", m["s"].sequence_length = 10;
  m["y"].name = "y", m["y"].type = "number";
  EcdModel model(c, m);
  model.eval();
  auto out = model.forward(Batch{{"s", torch::randn({3, 10})}});
  CHECK(out.at("y").size(0) == 3);
  CHECK(bool(torch::isfinite(out.at("y")).all().item<bool>()));
}
