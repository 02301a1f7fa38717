#pragma once
// A Table holds the raw text of the columns a config uses, as (offset, length) pairs into one
// buffer: no allocation per cell. Empty fields are missing values.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

struct Cell {
  uint32_t offset = 0;
  uint32_t length = 0;
};

struct Column {
  std::string name;
  std::vector<Cell> cells;
  // The cells hold files' bytes (an image uploaded to kiln serve), not paths to them.
  bool holds_bytes = false;
};

class Table {
 public:
  std::string source;  // file path, for messages
  std::string buffer;  // backing text of every cell
  std::vector<Column> columns;
  std::vector<uint32_t> lines;  // 1-based line in the file where each row starts
  uint64_t content_hash = 0;    // hash of the file's bytes (cache key)

  size_t num_rows() const { return lines.size(); }
  const Column* find(const std::string& name) const;
  const Column& get(const std::string& name) const;  // throws DataError naming the file
  std::string_view cell(const Column& c, size_t row) const {
    const Cell& x = c.cells[row];
    return std::string_view(buffer.data() + x.offset, x.length);
  }
  static bool missing(const Column& c, size_t row) { return c.cells[row].length == 0; }
  // Column-wise loops touch one cell per row, scattered through the buffer: asking for the cell
  // a few rows ahead hides the memory latency that otherwise dominates them.
  void prefetch(const Column& c, size_t row) const {
    if (row < c.cells.size()) __builtin_prefetch(buffer.data() + c.cells[row].offset);
  }
  static constexpr size_t kPrefetchAhead = 16;
  // "file:line" of a row, for messages.
  std::string where(size_t row) const;
  std::vector<std::string> column_names() const;
};

struct ReadOptions {
  std::vector<std::string> columns;  // columns to keep; a missing one is an error
  std::vector<std::string> optional_columns;  // kept when present
  int threads = 1;
};

// Reads CSV/TSV (RFC 4180: quotes, embedded separators and newlines, CRLF, BOM) or JSON Lines,
// chosen by extension (.jsonl/.ndjson/.json → JSON Lines, .tsv/.tab → TSV, else CSV).
// Throws DataError with file, line and column.
Table read_table(const std::string& path, const ReadOptions& options);
// Same, from text already read (the format is still chosen by the path's extension).
Table parse_table(std::string text, const std::string& path, const ReadOptions& options);
Table read_csv_text(std::string text, const std::string& source, char sep,
                    const ReadOptions& options);
Table read_jsonl_text(const std::string& text, const std::string& source,
                      const ReadOptions& options);
// A table of values already split into cells (a served request): rows[r][c] is column c's value,
// "" a missing one; row r is "line" r + 1 of `source` in messages.
Table table_from_rows(std::string source, const std::vector<std::string>& columns,
                      const std::vector<std::vector<std::string>>& rows);
// The same, row by row, from cells that need not be copied first (e.g. parsed JSON).
class TableBuilder {
 public:
  TableBuilder(std::string source, const std::vector<std::string>& columns, size_t rows_hint = 0);
  // The next row: one cell per column ("" missing). Throws DataError past 4 GiB of text.
  void add_row(const std::string_view* cells);
  Table take() { return std::move(t_); }

 private:
  Table t_;
};

}  // namespace kiln
