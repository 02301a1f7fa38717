#include <doctest/doctest.h>

#include <random>

#include "slices/sliceline.h"

using namespace kiln;

// Three features with 4 values each over 4000 rows; errors are planted where f0 = 1 and f2 = 3,
// plus 5 % noise everywhere.
TEST_CASE("SliceLine finds a planted two-condition slice first") {
  const int n = 4000;
  std::mt19937 rng(5);
  std::vector<std::vector<int>> value(3, std::vector<int>(n));
  std::vector<double> err(n);
  std::uniform_int_distribution<int> pick(0, 3);
  std::uniform_real_distribution<double> u(0, 1);
  for (int r = 0; r < n; ++r) {
    for (int f = 0; f < 3; ++f) value[f][r] = pick(rng);
    err[r] = (value[0][r] == 1 && value[2][r] == 3) || u(rng) < 0.05 ? 1.0 : 0.0;
  }
  std::vector<SliceItem> items;
  for (int f = 0; f < 3; ++f)
    for (int v = 0; v < 4; ++v) {
      SliceItem it{f, "f" + std::to_string(f) + " == " + std::to_string(v), {}};
      for (int r = 0; r < n; ++r)
        if (value[f][r] == v) it.rows.push_back(r);
      items.push_back(it);
    }
  SliceLineOptions o;
  o.k = 4;
  o.max_level = 3;
  o.min_support = 32;
  auto res = slice_line(items, err, o);
  REQUIRE(!res.top.empty());
  CHECK(res.top[0].where == "f0 == 1 and f2 == 3");
  CHECK(res.top[0].error > 0.9);
  CHECK(res.top[0].size > 200);
  CHECK(res.top[0].size < 300);
  for (size_t i = 1; i < res.top.size(); ++i) CHECK(res.top[i - 1].score >= res.top[i].score);
  // The score of the top slice matches the formula.
  double mean = 0;
  for (double e : err) mean += e;
  mean /= n;
  const auto& t = res.top[0];
  CHECK(t.score == doctest::Approx(0.95 * (t.error / mean - 1) - 0.05 * (double(n) / t.size - 1)));
  // Pruning keeps the answer: with min_support above every slice, nothing is found.
  o.min_support = n + 1;
  CHECK(slice_line(items, err, o).top.empty());
}
