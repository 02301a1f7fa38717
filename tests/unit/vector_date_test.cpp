// vector and date features: parsing, sizes, and errors that name row, column and the problem.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include "config/config.h"
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
