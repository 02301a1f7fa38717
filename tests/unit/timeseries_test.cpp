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
