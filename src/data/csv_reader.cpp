#include <algorithm>
#include <cstring>
#include <thread>

#include "data/table.h"
#include "util/error.h"
#include "util/parallel.h"
#include "util/fs.h"
#include "util/strings.h"

namespace kiln {

const Column* Table::find(const std::string& name) const {
  for (const auto& c : columns)
    if (c.name == name) return &c;
  return nullptr;
}

const Column& Table::get(const std::string& name) const {
  if (const Column* c = find(name)) return *c;
  throw DataError(source + ": column '" + name + "' not found" + suggest(name, column_names()));
}

std::string Table::where(size_t row) const { return source + ":" + std::to_string(lines[row]); }

TableBuilder::TableBuilder(std::string source, const std::vector<std::string>& columns, size_t rows_hint) {
  t_.source = std::move(source);
  t_.columns.resize(columns.size());
  for (size_t c = 0; c < columns.size(); ++c) t_.columns[c].name = columns[c], t_.columns[c].cells.reserve(rows_hint);
  t_.lines.reserve(rows_hint);
}

void TableBuilder::add_row(const std::string_view* cells) {
  for (size_t c = 0; c < t_.columns.size(); ++c) {
    const std::string_view v = cells[c];
    if (t_.buffer.size() + v.size() > UINT32_MAX) throw DataError(t_.source + ": the request is too large");
    t_.columns[c].cells.push_back(Cell{static_cast<uint32_t>(t_.buffer.size()), static_cast<uint32_t>(v.size())});
    t_.buffer += v;
  }
  t_.lines.push_back(static_cast<uint32_t>(t_.lines.size() + 1));
}

Table table_from_rows(std::string source, const std::vector<std::string>& columns,
                      const std::vector<std::vector<std::string>>& rows) {
  TableBuilder b(source, columns, rows.size());
  std::vector<std::string_view> cells(columns.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].size() != columns.size())
      throw DataError(source + ":" + std::to_string(r + 1) + ": expected " + std::to_string(columns.size()) +
                      " values (as in columns), found " + std::to_string(rows[r].size()));
    for (size_t c = 0; c < columns.size(); ++c) cells[c] = rows[r][c];
    b.add_row(cells.data());
  }
  return b.take();
}

std::vector<std::string> Table::column_names() const {
  std::vector<std::string> out;
  for (const auto& c : columns) out.push_back(c.name);
  return out;
}

namespace {

struct Record {
  size_t begin, end;  // [begin, end) excluding the line terminator
  uint32_t line;
};

// One pass over the text that finds where records start, honouring quotes (a quoted field may hold
// separators and newlines).
std::vector<Record> find_records(const std::string& s, size_t start, char sep,
                                 const std::string& source) {
  std::vector<Record> out;
  out.reserve(s.size() / 64 + 1);
  size_t n = s.size(), i = start, rec_begin = start;
  uint32_t line = 1, rec_line = 1;
  bool in_quotes = false;
  size_t quote_open = 0;
  uint32_t quote_line = 0;
  size_t quote_line_begin = 0, line_begin = start;
  const char* p = s.data();
  while (i < n) {
    char ch = p[i];
    if (in_quotes) {
      if (ch == '"') {
        if (i + 1 < n && p[i + 1] == '"') {
          i += 2;
          continue;
        }
        in_quotes = false;
      } else if (ch == '\n') {
        ++line;
        line_begin = i + 1;
      }
      ++i;
      continue;
    }
    if (ch == '"' && (i == rec_begin || p[i - 1] == sep)) {  // quotes open only a field
      in_quotes = true;
      quote_open = i;
      quote_line = line;
      quote_line_begin = line_begin;
    } else if (ch == '\n') {
      size_t end = (i > rec_begin && p[i - 1] == '\r') ? i - 1 : i;
      if (end > rec_begin) out.push_back({rec_begin, end, rec_line});
      ++line;
      rec_begin = line_begin = i + 1;
      rec_line = line;
    }
    ++i;
  }
  if (in_quotes)
    throw DataError(source + ":" + std::to_string(quote_line) + ":" +
                    std::to_string(quote_open - quote_line_begin + 1) +
                    ": unterminated quoted field (no closing '\"' before the end of the file)");
  size_t end = (n > rec_begin && p[n - 1] == '\r') ? n - 1 : n;
  if (end > rec_begin) out.push_back({rec_begin, end, rec_line});
  return out;
}

struct ParseError {
  size_t record = SIZE_MAX;
  std::string message;
};

// Splits one record into fields, unescaping quoted fields in place (the result is never longer
// than the source). Calls emit(field_index, offset, length) for each field; returns the count.
template <class Emit>
size_t split_record(std::string& s, const Record& r, char sep, const std::string& source,
                    std::string* error, Emit&& emit) {
  size_t i = r.begin, field = 0;
  char* p = s.data();
  while (true) {
    if (i < r.end && p[i] == '"') {
      size_t out = i, j = i + 1;
      while (true) {
        // find_records guarantees a closing quote inside the record
        if (p[j] == '"') {
          if (j + 1 < r.end && p[j + 1] == '"') {
            p[out++] = '"';
            j += 2;
            continue;
          }
          ++j;
          break;
        }
        p[out++] = p[j++];
      }
      emit(field, i, out - i);
      if (j < r.end && p[j] != sep) {
        size_t col = j - r.begin + 1;
        *error = source + ":" + std::to_string(r.line) + ":" + std::to_string(col) +
                 ": unexpected character '" + std::string(1, p[j]) +
                 "' after a closing quote (expected the separator or the end of the line)";
        return field + 1;
      }
      ++field;
      if (j >= r.end) return field;
      i = j + 1;
      if (i >= r.end) {
        emit(field, i, 0);
        return field + 1;
      }
    } else {
      const void* hit = std::memchr(p + i, sep, r.end - i);
      size_t e = hit ? static_cast<const char*>(hit) - p : r.end;
      emit(field, i, e - i);
      ++field;
      if (!hit) return field;
      i = e + 1;
      if (i >= r.end) {
        emit(field, i, 0);
        return field + 1;
      }
    }
  }
}

}  // namespace

Table read_csv_text(std::string text, const std::string& source, char sep,
                    const ReadOptions& options) {
  Table t;
  t.source = source;
  t.content_hash = hash_bytes(text.data(), text.size());
  if (text.size() >= UINT32_MAX)
    throw DataError(source + ": file larger than 4 GiB; split it into several files");
  size_t start = 0;
  if (text.size() >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) start = 3;
  t.buffer = std::move(text);
  std::vector<Record> records = find_records(t.buffer, start, sep, source);
  if (records.empty()) throw DataError(source + ": the file is empty (expected a header row)");

  // Header.
  std::vector<std::string> header;
  std::string err;
  split_record(t.buffer, records[0], sep, source, &err, [&](size_t, size_t off, size_t len) {
    header.emplace_back(t.buffer.data() + off, len);
  });
  if (!err.empty()) throw DataError(err);
  const size_t num_fields = header.size();
  std::vector<int> slot(num_fields, -1);
  std::vector<std::string> wanted = options.columns;
  for (const auto& name : options.optional_columns)
    if (std::find(header.begin(), header.end(), name) != header.end()) wanted.push_back(name);
  for (const auto& name : wanted) {
    auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end())
      throw DataError(source + ": column '" + name + "' not found in the header" +
                      suggest(name, header));
    if (slot[it - header.begin()] < 0) {
      slot[it - header.begin()] = static_cast<int>(t.columns.size());
      t.columns.push_back(Column{name, {}});
    }
  }
  const size_t rows = records.size() - 1;
  if (rows == 0) throw DataError(source + ": no data rows after the header");
  for (auto& c : t.columns) c.cells.resize(rows);
  t.lines.resize(rows);

  int threads = std::max(1, std::min<int>(options.threads, static_cast<int>(rows / 20000) + 1));
  std::vector<ParseError> errors(threads);
  auto work = [&](int k) {
    size_t lo = rows * k / threads, hi = rows * (k + 1) / threads;
    for (size_t r = lo; r < hi; ++r) {
      const Record& rec = records[r + 1];
      t.lines[r] = rec.line;
      std::string e;
      size_t n = split_record(t.buffer, rec, sep, source, &e, [&](size_t f, size_t off, size_t len) {
        if (f < num_fields && slot[f] >= 0)
          t.columns[slot[f]].cells[r] = Cell{static_cast<uint32_t>(off), static_cast<uint32_t>(len)};
      });
      if (e.empty() && n != num_fields)
        e = source + ":" + std::to_string(rec.line) + ": expected " + std::to_string(num_fields) +
            " fields (as in the header), found " + std::to_string(n);
      if (!e.empty()) {
        errors[k] = {r, e};
        return;
      }
    }
  };
  parallel_for(static_cast<size_t>(threads), threads, [&](size_t k) { work(static_cast<int>(k)); });
  for (const auto& e : errors)  // the earliest row's error (threads cover rows in order)
    if (!e.message.empty()) throw DataError(e.message);
  return t;
}

Table read_table(const std::string& path, const ReadOptions& options) {
  return parse_table(read_file(path), path, options);
}

Table parse_table(std::string text, const std::string& path, const ReadOptions& options) {
  std::string lower = to_lower(path);
  auto ends = [&](const char* suf) {
    std::string s(suf);
    return lower.size() >= s.size() && lower.compare(lower.size() - s.size(), s.size(), s) == 0;
  };
  if (ends(".jsonl") || ends(".ndjson") || ends(".json"))
    return read_jsonl_text(text, path, options);
  char sep = (ends(".tsv") || ends(".tab")) ? '\t' : ',';
  return read_csv_text(std::move(text), path, sep, options);
}

}  // namespace kiln
