#include <doctest/doctest.h>
#include <torch/torch.h>

#include <cmath>

#include "metrics/metrics.h"

using namespace kiln;

// Brute-force AUC: the fraction of (positive, negative) pairs ranked right, ties counting half.
static double brute_auc(const std::vector<float>& p, const std::vector<float>& y) {
  double good = 0, pairs = 0;
  for (size_t i = 0; i < p.size(); ++i)
    for (size_t j = 0; j < p.size(); ++j)
      if (y[i] == 1 && y[j] == 0) {
        pairs += 1;
        good += p[i] > p[j] ? 1 : p[i] == p[j] ? 0.5 : 0;
      }
  return good / pairs;
}

TEST_CASE("binary metrics equal an independent computation, merged across batches") {
  const int N = 1500;  // above the radix-sort threshold
  torch::manual_seed(3);
  auto logits = torch::randn({N});
  logits.index_put_({torch::indexing::Slice(0, 50)}, 0.0);  // ties
  auto y = (torch::rand({N}) < 0.3).to(torch::kFloat32);
  BinaryMetrics a(0.5, {"no", "yes"}), b(0.5, {"no", "yes"});
  a.update(logits.slice(0, 0, 600), y.slice(0, 0, 600), 0);
  b.update(logits.slice(0, 600), y.slice(0, 600), 0);
  a.merge(b);
  auto p = torch::sigmoid(logits);
  std::vector<float> pv(p.data_ptr<float>(), p.data_ptr<float>() + N);
  std::vector<float> yv(y.data_ptr<float>(), y.data_ptr<float>() + N);
  CHECK(a.value("roc_auc") == doctest::Approx(brute_auc(pv, yv)).epsilon(1e-9));
  double tp = 0, fp = 0, tn = 0, fn = 0;
  for (int i = 0; i < N; ++i) {
    bool pred = pv[i] >= 0.5, t = yv[i] == 1;
    tp += pred && t, fp += pred && !t, tn += !pred && !t, fn += !pred && t;
  }
  CHECK(a.value("accuracy") == doctest::Approx((tp + tn) / N));
  CHECK(a.value("precision") == doctest::Approx(tp / (tp + fp)));
  CHECK(a.value("recall") == doctest::Approx(tp / (tp + fn)));
  CHECK(a.value("specificity") == doctest::Approx(tn / (tn + fp)));
}

TEST_CASE("number metrics in original units") {
  NumberMetrics m(10.0, 100.0);  // x * 10 + 100
  auto pred = torch::tensor({0.0f, 1.0f, -1.0f, 0.5f});
  auto y = torch::tensor({0.0f, 2.0f, -1.0f, 0.0f});
  m.update(pred, y, 2.0);
  // original units: pred 100,110,90,105; y 100,120,90,100 → errors 0,-10,0,5
  CHECK(m.value("mean_squared_error") == doctest::Approx(125.0 / 4));
  CHECK(m.value("mean_absolute_error") == doctest::Approx(15.0 / 4));
  CHECK(m.value("root_mean_squared_error") == doctest::Approx(std::sqrt(125.0 / 4)));
  double mean = 102.5, sst = 2.5 * 2.5 + 17.5 * 17.5 + 12.5 * 12.5 + 2.5 * 2.5;
  (void)mean;
  CHECK(m.value("r2") == doctest::Approx(1 - 125.0 / sst));
  CHECK(m.value("loss") == doctest::Approx(0.5));
}

TEST_CASE("category metrics: accuracy, hits_at_k, unseen labels count as wrong") {
  CategoryMetrics m({"a", "b", "c", "d"}, 2);
  auto logits = torch::tensor({{3.0f, 2.0f, 1.0f, 0.0f},    // pred a, top2 {a,b}
                               {0.0f, 1.0f, 3.0f, 2.0f},    // pred c, top2 {c,d}
                               {1.0f, 0.0f, 0.0f, 2.0f},    // pred d, top2 {d,a}
                               {1.0f, 2.0f, 0.0f, 0.0f}});  // unseen label
  auto y = torch::tensor({0, 3, 1, -100}, torch::kLong);
  m.add(m.prepare(logits, y, torch::tensor({1.0, 1.0, 1.0, 5.0})), nullptr);
  CHECK(m.value("accuracy") == doctest::Approx(1.0 / 4));
  CHECK(m.value("hits_at_k") == doctest::Approx(2.0 / 4));
  CHECK(m.value("loss") == doctest::Approx(1.0));  // 3.0 over the 3 rows with known labels
}
