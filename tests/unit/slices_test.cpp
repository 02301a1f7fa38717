#include <doctest/doctest.h>

#include "slices/expression.h"
#include "slices/slices.h"
#include "features/feature.h"

using namespace kiln;

static Table table() {
  ReadOptions o;
  o.columns = {"age", "dept", "notes", "tags"};
  return read_csv_text(
      "age,dept,notes,tags\n"
      "25,Sales,urgent call,a|b\n"
      "35,R&D,,b\n"
      ",Sales,call back later,\n"
      "45,HR,URGENT,a\n"
      "30,Sales,x,c;a\n",
      "t.csv", ',', o);
}

static std::vector<int> rows(const std::string& expr) {
  Table t = table();
  auto m = SliceExpression::parse(expr).evaluate(t);
  std::vector<int> out;
  for (size_t r = 0; r < m.size(); ++r)
    if (m[r]) out.push_back(static_cast<int>(r));
  return out;
}

TEST_CASE("slice predicates over raw values") {
  using V = std::vector<int>;
  CHECK(rows("age < 30") == V{0});
  CHECK(rows("age >= 30") == V{1, 3, 4});
  CHECK(rows("age != 35") == V{0, 3, 4});  // missing compares false
  CHECK(rows("dept == 'Sales'") == V{0, 2, 4});
  CHECK(rows("dept == \"Sales\" and age <= 30") == V{0, 4});
  CHECK(rows("dept = 'HR' or age < 26") == V{0, 3});
  CHECK(rows("not (dept == 'Sales')") == V{1, 3});
  CHECK(rows("dept in ['HR', 'R&D']") == V{1, 3});
  CHECK(rows("dept not in ['HR', 'R&D']") == V{0, 2, 4});
  CHECK(rows("age between 30 and 40") == V{1, 4});
  CHECK(rows("age is missing") == V{2});
  CHECK(rows("notes is not missing") == V{0, 2, 3, 4});
  CHECK(rows("notes contains 'call'") == V{0, 2});
  CHECK(rows("notes matches '^[A-Z]+$'") == V{3});
  CHECK(rows("length(notes) > 5") == V{0, 2, 3});
  CHECK(rows("(age < 30 or age > 40) and not notes is missing") == V{0, 3});
  CHECK(rows("age > length(notes)") == V{0, 3, 4});  // column against column: the per-row path
  CHECK(rows("length(notes) < age") == V{0, 3, 4});
  CHECK(SliceExpression::parse("a < 1 and `b c` == 'x' or length(d) > 2").columns() ==
        std::vector<std::string>{"a", "b c", "d"});
}

static std::string syntax_error(const std::string& expr) {
  try {
    SliceExpression::parse(expr);
  } catch (const SliceSyntaxError& e) {
    return std::to_string(e.position()) + ": " + e.what();
  }
  return "";
}

TEST_CASE("syntax errors point at the character") {
  CHECK(syntax_error("age <") == "5: expected a value after '<' at the end");
  CHECK(syntax_error("age") == "3: expected a comparison (==, !=, <, in, between, is missing, ...) at the end");
  CHECK(syntax_error("age < 3 and") == "11: expected a column, length(column) or a value at the end");
  CHECK(syntax_error("dept == 'Sales") == "8: unterminated string");
  CHECK(syntax_error("(age < 3") == "8: expected ')'");
  CHECK(syntax_error("age between 1 or 2") == "14: expected 'and' in 'between ... and ...'");
  CHECK(syntax_error("dept in 'x'") == "8: expected '[' after 'in'");
  CHECK(syntax_error("age < 3 age") == "8: unexpected 'age' (expected 'and', 'or' or the end)");
  CHECK(syntax_error("age ~ 3") == "4: unexpected character '~'");
  CHECK(syntax_error("notes matches '('").rfind("14: bad regular expression", 0) == 0);
  // A repeat count beyond the engine's limit is an error, and one beyond any integer is literal
  // text as in Perl: never undefined behaviour (std::regex overflowed a long here; found by
  // fuzz_slice_expression).
  CHECK(syntax_error("notes matches 'a{1001}'") == "14: bad regular expression: invalid repetition size: {1001}");
  CHECK(syntax_error("notes matches 'a{3333333333333333333}'") == "");
}

TEST_CASE("deep nesting is an error and long chains are flat, never a stack overflow") {
  // 3281 opening parentheses overflowed the parser's stack (found by fuzz_slice_expression).
  auto nested = [](int levels, const std::string& open) {
    std::string e;
    for (int i = 0; i < levels; ++i) e += open;
    e += "age < 30";
    if (open == "(") e += std::string(static_cast<size_t>(levels), ')');
    return e;
  };
  CHECK(rows(nested(64, "(")) == std::vector<int>{0});
  CHECK(syntax_error(nested(65, "(")) == "64: nested more than 64 levels deep (parentheses and 'not')");
  CHECK(syntax_error(nested(3281, "(")) == "64: nested more than 64 levels deep (parentheses and 'not')");
  CHECK(rows(nested(64, "not ")) == std::vector<int>{0});
  CHECK(syntax_error(nested(65, "not ")) == "256: nested more than 64 levels deep (parentheses and 'not')");
  std::string chain = "age < 30";
  for (int i = 0; i < 20000; ++i) chain += i % 2 ? " or age < 30" : " and age < 30";
  CHECK(rows(chain) == std::vector<int>{0});  // one n-ary node per run of and / or
}

TEST_CASE("matches on a long text value neither recurses nor crashes") {
  // std::regex_search recursed once per character and overflowed the stack on this input.
  ReadOptions o;
  o.columns = {"body"};
  std::string long_text(200000, 'a');
  Table t = read_csv_text("body\n" + long_text + "\n" + long_text + "c\n", "long.csv", ',', o);
  auto m = SliceExpression::parse("body matches '(a|b)*c'").evaluate(t);
  REQUIRE(m.size() == 2);
  CHECK(m[0] == 0);
  CHECK(m[1] == 1);
}

TEST_CASE("by and tag_column slices, most frequent first") {
  Config c = parse_config(
      "input_features: [{name: age, type: number}]\n"
      "output_features: [{name: y, type: binary}]\n"
      "slices: {define: [{by: dept, top_k: 2}, {tag_column: tags, top_k: 2}, {name: old, where: 'age > 40'}]}\n",
      "m.yaml");
  Table t = table();
  std::vector<uint8_t> keep(t.num_rows(), 1);
  SliceSet s = build_slices(c, t, keep);
  CHECK(s.names == std::vector<std::string>{"dept=Sales", "dept=HR", "tags:a", "tags:b", "old"});
  auto sizes = s.membership.sum(1);
  CHECK(sizes[0].item<int64_t>() == 3);
  CHECK(sizes[1].item<int64_t>() == 1);
  CHECK(sizes[2].item<int64_t>() == 3);
  CHECK(sizes[3].item<int64_t>() == 2);
  CHECK(sizes[4].item<int64_t>() == 1);
}

TEST_CASE("Wilson interval") {
  auto [lo, hi] = wilson_interval(8, 10);
  CHECK(lo == doctest::Approx(0.4902).epsilon(1e-3));
  CHECK(hi == doctest::Approx(0.9433).epsilon(1e-3));
}

TEST_CASE("predicates read from category codes equal predicates read from text") {
  Table t = table();
  Config c = parse_config(
      "input_features: [{name: dept, type: category}]\noutput_features: [{name: y, type: binary}]\n",
      "m.yaml");
  const auto& f = c.input_features[0];
  const auto& kind = feature_kind("category");
  REQUIRE(kind.codes_identify_values(f));
  // vocabulary from rows 0-2 only: 'HR' (row 3) is unseen, so its code is 0 like missing
  auto meta = kind.fit(f, t, t.get("dept"), {0, 1, 2});
  auto codes = kind.encode(f, meta, t, t.get("dept"));
  for (const char* expr : {"dept == 'Sales'", "dept == 'HR'", "dept in ['R&D', 'HR']",
                           "dept is missing", "dept != 'Sales'", "dept > 'A'"}) {
    SliceExpression::ColumnCache from_text, from_codes;
    from_codes.columns["dept"] = SliceExpression::parse_codes(t, "dept", codes, meta.idx2str);
    auto e = SliceExpression::parse(expr);
    CAPTURE(expr);
    CHECK(e.evaluate(t, from_text) == e.evaluate(t, from_codes));
  }
}
