#pragma once
// Slice predicates over RAW column values:
//   Age < 30 and Department == 'Sales'        == != < <= > >=  (numbers compare as numbers)
//   JobRole in ['Manager', 'Research_Director']   not in [...]
//   Age between 30 and 40          Income is missing / is not missing
//   Notes contains 'urgent'        Email matches '.*@example\.com'     length(Notes) > 100
//   not (...), and, or, parentheses
// A comparison involving a missing value is false (use `is missing`). Evaluation is column-wise:
// each referenced column is parsed once, then every node produces a mask over all rows.
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/types.h>

#include "data/table.h"

namespace kiln {

// A syntax error at a 0-based character position of the expression.
class SliceSyntaxError : public std::runtime_error {
 public:
  SliceSyntaxError(size_t pos, const std::string& msg) : std::runtime_error(msg), pos_(pos) {}
  size_t position() const { return pos_; }

 private:
  size_t pos_;
};

class SliceExpression {
 public:
  struct Node;
  static SliceExpression parse(const std::string& text);  // throws SliceSyntaxError
  const std::string& text() const { return text_; }
  std::vector<std::string> columns() const;  // columns the expression reads
  // One byte per table row: 1 where the predicate holds. Throws DataError naming a column absent
  // from the table.
  std::vector<uint8_t> evaluate(const Table& t) const;
  // Columns parsed once (text and number per row), shared by several expressions.
  struct ParsedColumn {
    const Column* col = nullptr;
    std::vector<double> num;  // NaN where the text is not a number
    // Dictionary of distinct values (when there are at most 65536): a predicate over this
    // column alone is decided once per distinct value, then read per row from `ids`.
    bool has_dict = false;
    std::vector<int32_t> ids;  // -1: missing
    std::vector<std::string_view> values;
    std::vector<double> value_num;
  };
  struct ColumnCache {
    std::map<std::string, ParsedColumn> columns;
  };
  // Evaluation only reads `cache` for columns already in it (so several threads may share it).
  std::vector<uint8_t> evaluate(const Table& t, ColumnCache& cache) const;
  static ParsedColumn parse_column(const Table& t, const std::string& name);
  // Same result from category codes (code i = vocabulary[i]; 0: missing or unseen, read from the
  // text), touching the text only for code-0 rows.
  static ParsedColumn parse_codes(const Table& t, const std::string& name,
                                  const torch::Tensor& codes, const std::vector<std::string>& vocabulary);

 private:
  std::string text_;
  std::shared_ptr<const Node> root_;
};

}  // namespace kiln
