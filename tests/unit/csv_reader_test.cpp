#include <doctest/doctest.h>

#include "data/table.h"
#include "util/error.h"

using namespace kiln;

static std::string err_of(const std::string& text, std::vector<std::string> cols) {
  try {
    ReadOptions o;
    o.columns = std::move(cols);
    read_csv_text(text, "d.csv", ',', o);
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

TEST_CASE("RFC 4180: quotes, embedded separators and newlines, CRLF, BOM, missing values") {
  std::string text =
      "\xEF\xBB\xBF" "a,b,c\r\n"
      "1,\"x, \"\"quoted\"\"\",\r\n"
      "2,\"multi\nline\",z\r\n"
      ",\"\",last\r\n";
  ReadOptions o;
  o.columns = {"c", "a", "b"};
  Table t = read_csv_text(text, "d.csv", ',', o);
  REQUIRE(t.num_rows() == 3);
  const Column& a = t.get("a");
  const Column& b = t.get("b");
  const Column& c = t.get("c");
  CHECK(t.cell(a, 0) == "1");
  CHECK(t.cell(b, 0) == "x, \"quoted\"");
  CHECK(Table::missing(c, 0));
  CHECK(t.cell(b, 1) == "multi\nline");
  CHECK(t.cell(c, 1) == "z");
  CHECK(Table::missing(a, 2));
  CHECK(Table::missing(b, 2));
  CHECK(t.cell(c, 2) == "last");
  CHECK(t.lines[0] == 2);
  CHECK(t.lines[1] == 3);
  CHECK(t.lines[2] == 5);  // the quoted newline moved the next record down a line
}

TEST_CASE("only the requested columns are kept; a quote inside an unquoted field is literal") {
  ReadOptions o;
  o.columns = {"b"};
  Table t = read_csv_text("a,b\n5 \"in,ch\"\n", "d.csv", ',', o);
  CHECK(t.columns.size() == 1);
  CHECK(t.cell(t.get("b"), 0) == "ch\"");
}

TEST_CASE("multi-threaded parse equals single-threaded") {
  std::string text = "x,y\n";
  for (int i = 0; i < 100000; ++i)
    text += std::to_string(i) + ",\"v" + std::to_string(i % 7) + ",q\"\n";
  ReadOptions o;
  o.columns = {"x", "y"};
  o.threads = 1;
  Table one = read_csv_text(text, "d.csv", ',', o);
  o.threads = 4;
  Table four = read_csv_text(text, "d.csv", ',', o);
  REQUIRE(one.num_rows() == 100000);
  REQUIRE(four.num_rows() == 100000);
  for (size_t r = 0; r < one.num_rows(); r += 997) {
    CHECK(one.cell(one.get("y"), r) == four.cell(four.get("y"), r));
    CHECK(four.cell(four.get("x"), r) == std::to_string(r));
  }
}

TEST_CASE("TSV and JSON Lines") {
  ReadOptions o;
  o.columns = {"a", "b"};
  Table t = read_csv_text("a\tb\n1\thello, world\n", "d.tsv", '\t', o);
  CHECK(t.cell(t.get("b"), 0) == "hello, world");
  Table j = read_jsonl_text("{\"a\": 1.50, \"b\": \"x\"}\n\n{\"a\": null, \"b\": true}\n", "d.jsonl", o);
  REQUIRE(j.num_rows() == 2);
  CHECK(j.cell(j.get("a"), 0) == "1.50");  // numbers kept as written
  CHECK(Table::missing(j.get("a"), 1));
  CHECK(j.cell(j.get("b"), 1) == "true");
  CHECK(j.lines[1] == 3);
}

TEST_CASE("data errors name file, line and column") {
  CHECK(err_of("a,b\n1,2\n3\n", {"a"}) == "d.csv:3: expected 2 fields (as in the header), found 1");
  CHECK(err_of("a,b\n1,\"2\n3,4\n", {"a"}) ==
        "d.csv:2:3: unterminated quoted field (no closing '\"' before the end of the file)");
  CHECK(err_of("a,b\n1,\"2\"x\n", {"a"}) ==
        "d.csv:2:6: unexpected character 'x' after a closing quote (expected the separator or "
        "the end of the line)");
  CHECK(err_of("", {"a"}) == "d.csv: the file is empty (expected a header row)");
  CHECK(err_of("a,b\n", {"a"}) == "d.csv: no data rows after the header");
  CHECK(err_of("alpha,b\n1,2\n", {"alpah"}) ==
        "d.csv: column 'alpah' not found in the header; did you mean 'alpha'?");
  std::string jerr;
  try {
    ReadOptions o;
    o.columns = {"a"};
    read_jsonl_text("{\"a\": 1}\n{\"a\": }\n", "d.jsonl", o);
  } catch (const DataError& e) {
    jerr = e.what();
  }
  CHECK(jerr == "d.jsonl:2:7: invalid JSON: Invalid value.");
}
