// The anomaly output (features/anomaly.cpp, decoders/anomaly.cpp): labels 1 / 0 / -1-or-empty,
// Ludwig's three losses worked by hand, metrics over the labeled rows only, the threshold after
// training, the decoder's center from the first training batch, and config errors at their key.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <cmath>

#include "config/config.h"
#include "config/schema.h"
#include "config_error.h"
#include "data/split.h"
#include "features/feature.h"
#include "model/components.h"
#include "util/error.h"

using namespace kiln;

namespace {

Config anomaly_config(const std::string& output_extra = "") {
  register_builtins();
  return parse_config("input_features: [{name: x, type: number}]\n"
                      "output_features: [{name: y, type: anomaly" + output_extra + "}]\n",
                      "m.yaml");
}

Table table(const std::string& csv) {
  ReadOptions o;
  o.columns = {"x", "y"};
  return read_csv_text(csv, "t.csv", ',', o);
}

double loss_of(const std::string& loss, const std::vector<float>& d, const std::vector<float>& y) {
  Config c = anomaly_config(", loss: " + loss);
  const auto& f = c.output_features[0];
  FeatureMetadata m;
  return output_kind("anomaly").loss(f, m, torch::tensor(d), torch::tensor(y)).mean.item<double>();
}

}  // namespace

TEST_CASE("anomaly labels: 1 anomaly, 0 normal, -1 or empty unlabeled; anything else names its cell") {
  Config c = anomaly_config();
  const auto& f = c.output_features[0];
  Table t = table("x,y\n1,1\n2,0\n3,\n4,-1\n5,true\n");
  auto m = feature_kind("anomaly").fit(f, t, t.get("y"), {0, 1, 2, 3, 4});
  auto e = feature_kind("anomaly").encode(f, m, t, t.get("y"));
  CHECK(torch::equal(e, torch::tensor({1.0f, 0.0f, -1.0f, -1.0f, 1.0f})));
  std::vector<uint8_t> keep(5, 1);
  feature_kind("anomaly").mark_dropped(f, t, t.get("y"), keep);
  CHECK(keep == std::vector<uint8_t>(5, 1));  // unlabeled rows are kept
  Table bad = table("x,y\n1,1\n2,maybe\n");
  std::string msg;
  try {
    feature_kind("anomaly").encode(f, m, bad, bad.get("y"));
  } catch (const DataError& x) {
    msg = x.what();
  }
  CHECK(msg == "t.csv:3: column 'y': 'maybe' is not an anomaly label of output 'y' (expected 1 for an anomaly, 0 "
               "for normal, -1 or empty for unlabeled)");
}

TEST_CASE("Ludwig's anomaly losses, worked by hand") {
  const std::vector<float> d = {1, 2, 3, 4, 10};
  const std::vector<float> y = {0, 0, -1, 1, 1};
  // deep_svdd hard boundary (nu 0): the mean distance.
  CHECK(loss_of("{type: deep_svdd, nu: 0}", d, y) == doctest::Approx(4.0));
  // soft boundary, nu 0.25: R = the 0.75 quantile of [1, 2, 3, 4, 10] = 4; R + mean(max(0, d - R)) / nu.
  CHECK(loss_of("{type: deep_svdd, nu: 0.25}", d, y) == doctest::Approx(4.0 + (6.0 / 5) / 0.25));
  // deep_sad, eta 2: labeled anomalies (y = 1) contribute eta / d, the other rows d.
  CHECK(loss_of("{type: deep_sad, eta: 2}", d, y) ==
        doctest::Approx((1 + 2 + 3 + 2.0 / (4 + 1e-6) + 2.0 / (10 + 1e-6)) / 5).epsilon(1e-6));
  // drocc: the distance plus a hinge against randomly perturbed scores, never below the mean distance.
  torch::manual_seed(1);
  const double drocc = loss_of("{type: drocc, perturbation_strength: 0.1}", d, y);
  CHECK(drocc >= 4.0);
  CHECK(drocc <= 4.0 + 0.1 * 0.1 * 3.6 * 4);  // hinge <= scale * |noise|, noise ~ N(0, 1) (std of d is 3.5)
}

TEST_CASE("anomaly metrics: roc_auc over the labeled rows; precision, recall and f1 once a threshold is known") {
  Config c = anomaly_config();
  const auto& f = c.output_features[0];
  FeatureMetadata m;  // threshold auto, not yet set by training
  auto before = output_kind("anomaly").metrics(f, m);
  auto scores = torch::tensor({0.1f, 0.2f, 5.0f, 0.3f, 7.0f, 9.0f});
  auto labels = torch::tensor({0.0f, 0.0f, 1.0f, -1.0f, 0.0f, 1.0f});  // row 3 unlabeled
  before->update(scores, labels, 0);
  before->finalize();
  // labeled: normal 0.1, 0.2, 7.0; anomalies 5.0, 9.0 -> 5 of 6 pairs ordered right.
  CHECK(before->value("roc_auc") == doctest::Approx(5.0 / 6));
  CHECK(std::isnan(before->value("precision")));  // not reported without a threshold
  CHECK(before->count() == 6);

  output_kind("anomaly").calibrate(f, m, torch::tensor({1.0f, 2.0f, 3.0f, 4.0f, 5.0f}));
  CHECK(m.score_threshold == doctest::Approx(4.8));  // the 95th percentile
  auto after = output_kind("anomaly").metrics(f, m);
  after->update(scores, labels, 0);
  after->finalize();
  // flagged (>= 4.8): 5.0 (anomaly), 7.0 (normal), 9.0 (anomaly): precision 2/3, recall 1.
  CHECK(after->value("precision") == doctest::Approx(2.0 / 3));
  CHECK(after->value("recall") == doctest::Approx(1.0));
  CHECK(after->value("f1") == doctest::Approx(0.8));
  auto cols = output_kind("anomaly").predictions(f, m, scores);
  CHECK(cols[0].name == "y_predictions");
  CHECK(cols[0].values == std::vector<std::string>{"0", "0", "1", "0", "1", "1"});
  CHECK(cols[1].name == "y_anomaly_score");

  // A fixed threshold is used as given; training learns nothing.
  Config fixed = anomaly_config(", threshold: 6");
  CHECK(!output_kind("anomaly").calibrates(fixed.output_features[0]));
  CHECK(output_kind("anomaly").predictions(fixed.output_features[0], FeatureMetadata{}, scores)[0].values ==
        std::vector<std::string>{"0", "0", "0", "0", "1", "1"});
}

TEST_CASE("the anomaly decoder's center is the first training batch's mean, kept away from 0") {
  register_builtins();
  Config c = anomaly_config();
  FeatureMetadata m;
  auto d = (*decoder_builders().find("anomaly/anomaly"))(*c.output_features[0].decoder.options, 3, 1, m);
  auto h = torch::tensor({{1.0f, 0.02f, -2.0f}, {3.0f, -0.1f, -4.0f}});
  d->train();
  auto first = d->forward(h);
  // center (2, -0.04 -> -0.1, -3): distances 1 + 0.0144 + 1 and 1 + 0 + 1
  CHECK(first[0].item<float>() == doctest::Approx(2.0144));
  CHECK(first[1].item<float>() == doctest::Approx(2.0));
  d->forward(h * 5);  // later batches leave the center where it is
  d->eval();
  CHECK(torch::allclose(d->forward(h), first));
}

TEST_CASE("anomaly config: threshold auto or a score, an output only") {
  register_builtins();
  const std::string in = "input_features: [{name: x, type: number}]\n";
  CHECK(config_error_of(in + "output_features: [{name: y, type: anomaly, threshold: high}]\n") ==
        "m.yaml:2:55: output_features[0].threshold: expected auto or a non-negative anomaly score, got 'high'");
  CHECK(config_error_of(in + "output_features: [{name: y, type: anomaly, threshold: 0.7, threshold_percentile: 99}]\n")
            .empty());
  CHECK(config_error_of("input_features: [{name: x, type: anomaly}]\noutput_features: [{name: y, type: binary}]\n")
            .find("cannot be an input") != std::string::npos);
}
