#include "slices/expression.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <cmath>
#include <map>

#include <re2/re2.h>
#include <torch/torch.h>
#include <unordered_map>

#include "util/error.h"
#include "util/strings.h"

namespace kiln {

namespace {

struct Token {
  enum Kind { Ident, Number, String, Op, LParen, RParen, LBracket, RBracket, Comma, End } kind;
  std::string text;
  size_t pos;
  double number = 0;
};

std::vector<Token> tokenize(const std::string& s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    size_t start = i;
    if (c == '\'' || c == '"') {
      std::string v;
      ++i;
      while (i < s.size() && s[i] != c) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        v += s[i++];
      }
      if (i >= s.size()) throw SliceSyntaxError(start, "unterminated string");
      ++i;
      out.push_back({Token::String, v, start});
    } else if (c == '`') {  // `column with spaces`
      size_t end = s.find('`', i + 1);
      if (end == std::string::npos) throw SliceSyntaxError(start, "unterminated `column name`");
      out.push_back({Token::Ident, s.substr(i + 1, end - i - 1), start});
      i = end + 1;
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               ((c == '-' || c == '.') && i + 1 < s.size() &&
                (std::isdigit(static_cast<unsigned char>(s[i + 1])) || s[i + 1] == '.'))) {
      size_t j = i + 1;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '.' ||
                              ((s[j] == '-' || s[j] == '+') && (s[j - 1] == 'e' || s[j - 1] == 'E'))))
        ++j;
      Token t{Token::Number, s.substr(i, j - i), start};
      if (!parse_double(t.text, t.number)) throw SliceSyntaxError(start, "bad number '" + t.text + "'");
      out.push_back(t);
      i = j;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i + 1;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_' || s[j] == '.'))
        ++j;
      out.push_back({Token::Ident, s.substr(i, j - i), start});
      i = j;
    } else if (c == '(' || c == ')' || c == '[' || c == ']' || c == ',') {
      Token::Kind k = c == '(' ? Token::LParen : c == ')' ? Token::RParen : c == '[' ? Token::LBracket
                      : c == ']' ? Token::RBracket : Token::Comma;
      out.push_back({k, std::string(1, c), start});
      ++i;
    } else {
      static const char* ops[] = {"==", "!=", "<=", ">=", "<", ">", "="};
      bool found = false;
      for (const char* op : ops) {
        size_t n = std::strlen(op);
        if (s.compare(i, n, op) == 0) {
          out.push_back({Token::Op, std::string(op) == "=" ? "==" : op, start});
          i += n;
          found = true;
          break;
        }
      }
      if (!found) throw SliceSyntaxError(start, std::string("unexpected character '") + c + "'");
    }
  }
  out.push_back({Token::End, "", s.size()});
  return out;
}

bool keyword(const Token& t, const char* k) { return t.kind == Token::Ident && to_lower(t.text) == k; }

}  // namespace

struct SliceExpression::Node {
  enum Kind { And, Or, Not, Compare, In, Between, IsMissing, Contains, Matches } kind;
  std::string op;                 // Compare: == != < <= > >=
  std::vector<std::shared_ptr<const Node>> children;
  // Operands: [0] the left side; [1..] right-hand literals / operands.
  struct Operand {
    enum Kind { Column, Length, Number, String } kind;
    std::string text;  // column name or literal text
    double number = 0;
  };
  std::vector<Operand> operands;
  bool negate = false;  // not in / is not missing
  // RE2: matching time linear in the text and no recursion, so a long text value (an e-mail
  // body) cannot exhaust the stack as std::regex did (segfault on 100k characters of "(a|b)*c").
  std::shared_ptr<const re2::RE2> regex;
};

namespace {

using Node = SliceExpression::Node;
using NodePtr = std::shared_ptr<const Node>;

class Parser {
 public:
  explicit Parser(const std::string& text) : toks_(tokenize(text)) {}
  NodePtr parse() {
    auto n = parse_or();
    if (peek().kind != Token::End) fail("unexpected '" + peek().text + "' (expected 'and', 'or' or the end)");
    return n;
  }

 private:
  const Token& peek() const { return toks_[i_]; }
  const Token& next() { return toks_[i_++]; }
  [[noreturn]] void fail(const std::string& msg) const { throw SliceSyntaxError(peek().pos, msg); }

  // The parser, the evaluator and the tree's destructor recurse once per level of parentheses and
  // `not`; chains of and/or are one n-ary node, whatever their length. Deeper nesting than any
  // real predicate needs is an error, not a stack overflow (found by fuzz_slice_expression).
  static constexpr int kMaxDepth = 64;
  struct Deeper {
    Parser& p;
    explicit Deeper(Parser& parser) : p(parser) {
      if (++p.depth_ > kMaxDepth)
        p.fail("nested more than " + std::to_string(kMaxDepth) + " levels deep (parentheses and 'not')");
    }
    ~Deeper() { --p.depth_; }
  };
  NodePtr parse_or() {
    auto first = parse_and();
    if (!keyword(peek(), "or")) return first;
    auto n = std::make_shared<Node>();
    n->kind = Node::Or;
    n->children = {first};
    while (keyword(peek(), "or")) {
      next();
      n->children.push_back(parse_and());
    }
    return n;
  }
  NodePtr parse_and() {
    auto first = parse_not();
    if (!keyword(peek(), "and")) return first;
    auto n = std::make_shared<Node>();
    n->kind = Node::And;
    n->children = {first};
    while (keyword(peek(), "and")) {
      next();
      n->children.push_back(parse_not());
    }
    return n;
  }
  NodePtr parse_not() {
    if (keyword(peek(), "not")) {
      const Deeper deeper(*this);
      next();
      auto n = std::make_shared<Node>();
      n->kind = Node::Not;
      n->children = {parse_not()};
      return n;
    }
    return parse_comparison();
  }
  Node::Operand operand(const char* what) {
    const Token& t = peek();
    if (t.kind == Token::Number) return next(), Node::Operand{Node::Operand::Number, t.text, t.number};
    if (t.kind == Token::String) {
      next();
      double v;  // a quoted literal that reads as a number compares as one ('30' == 30)
      return Node::Operand{Node::Operand::String, t.text, parse_double(t.text, v) ? v : std::nan("")};
    }
    if (t.kind == Token::Ident) {
      if (keyword(t, "length") && toks_[i_ + 1].kind == Token::LParen) {
        next(), next();
        if (peek().kind != Token::Ident) fail("expected a column name inside length(...)");
        std::string col = next().text;
        if (peek().kind != Token::RParen) fail("expected ')' after length(" + col);
        next();
        return {Node::Operand::Length, col, 0};
      }
      for (const char* k : {"and", "or", "not", "in", "between", "is", "contains", "matches"})
        if (keyword(t, k)) fail(std::string("expected ") + what + ", got the keyword '" + t.text + "'");
      return next(), Node::Operand{Node::Operand::Column, t.text, 0};
    }
    if (t.kind == Token::End) fail(std::string("expected ") + what + " at the end");
    fail(std::string("expected ") + what + ", got '" + t.text + "'");
  }
  NodePtr parse_comparison() {
    if (peek().kind == Token::LParen) {
      const Deeper deeper(*this);
      next();
      auto n = parse_or();
      if (peek().kind != Token::RParen) fail("expected ')'");
      next();
      return n;
    }
    auto n = std::make_shared<Node>();
    n->operands.push_back(operand("a column, length(column) or a value"));
    const Token& t = peek();
    if (t.kind == Token::Op) {
      n->kind = Node::Compare;
      n->op = next().text;
      n->operands.push_back(operand(("a value after '" + n->op + "'").c_str()));
    } else if (keyword(t, "between")) {
      next();
      n->kind = Node::Between;
      n->operands.push_back(operand("a value after 'between'"));
      if (!keyword(peek(), "and")) fail("expected 'and' in 'between ... and ...'");
      next();
      n->operands.push_back(operand("a value after 'and'"));
    } else if (keyword(t, "is")) {
      next();
      n->kind = Node::IsMissing;
      if (keyword(peek(), "not")) next(), n->negate = true;
      if (!keyword(peek(), "missing")) fail("expected 'missing' after 'is'");
      next();
    } else if (keyword(t, "in") || (keyword(t, "not") && keyword(toks_[i_ + 1], "in"))) {
      if (keyword(t, "not")) next(), n->negate = true;
      next();
      n->kind = Node::In;
      if (peek().kind != Token::LBracket) fail("expected '[' after 'in'");
      next();
      while (true) {
        n->operands.push_back(operand("a value in the list"));
        if (peek().kind == Token::Comma) {
          next();
          continue;
        }
        if (peek().kind != Token::RBracket) fail("expected ',' or ']' in the list");
        next();
        break;
      }
    } else if (keyword(t, "contains")) {
      next();
      n->kind = Node::Contains;
      n->operands.push_back(operand("a value after 'contains'"));
    } else if (keyword(t, "matches")) {
      next();
      n->kind = Node::Matches;
      size_t at = peek().pos;
      auto pattern = operand("a quoted pattern after 'matches'");
      re2::RE2::Options options;
      options.set_log_errors(false);
      auto regex = std::make_shared<const re2::RE2>(pattern.text, options);
      if (!regex->ok()) throw SliceSyntaxError(at, "bad regular expression: " + regex->error());
      n->regex = std::move(regex);
      n->operands.push_back(pattern);
    } else if (t.kind == Token::End) {
      fail("expected a comparison (==, !=, <, in, between, is missing, ...) at the end");
    } else {
      fail("expected a comparison (==, !=, <, in, between, is missing, ...), got '" + t.text + "'");
    }
    return n;
  }

  std::vector<Token> toks_;
  size_t i_ = 0;
  int depth_ = 0;
};

using ColumnData = SliceExpression::ParsedColumn;

struct Evaluator {
  const Table& t;
  std::map<std::string, ColumnData>& cache;

  ColumnData& column(const std::string& name) {
    auto it = cache.find(name);
    if (it != cache.end()) return it->second;
    return cache.emplace(name, SliceExpression::parse_column(t, name)).first->second;
  }

  // Per-row value of an operand: missing flag, number (NaN if not numeric), text.
  struct Value {
    bool missing;
    double num;
    std::string_view text;
  };
  // An operand resolved once per node: its column (if any) looked up before the row loop.
  struct Resolved {
    const Node::Operand* op;
    const ColumnData* data = nullptr;
  };
  Resolved resolve(const Node::Operand& o) {
    Resolved r{&o};
    if (o.kind == Node::Operand::Column || o.kind == Node::Operand::Length) r.data = &column(o.text);
    return r;
  }
  Value value(const Resolved& o, size_t r, std::string& scratch) const {
    switch (o.op->kind) {
      case Node::Operand::Number:
      case Node::Operand::String:
        return {false, o.op->number, o.op->text};
      case Node::Operand::Column:
        return {Table::missing(*o.data->col, r), o.data->num[r], t.cell(*o.data->col, r)};
      case Node::Operand::Length: {
        std::string_view text = t.cell(*o.data->col, r);
        scratch = std::to_string(text.size());
        return {Table::missing(*o.data->col, r), static_cast<double>(text.size()), scratch};
      }
    }
    return {true, 0, {}};
  }

  static int compare(const Value& a, const Value& b) {  // numbers as numbers, else text
    if (!std::isnan(a.num) && !std::isnan(b.num)) return a.num < b.num ? -1 : a.num > b.num ? 1 : 0;
    int c = a.text.compare(b.text);
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }

  std::vector<uint8_t> eval(const Node& n) {
    const size_t rows = t.num_rows();
    std::vector<uint8_t> out(rows, 0);
    switch (n.kind) {
      case Node::And:
      case Node::Or: {
        auto a = eval(*n.children[0]);
        for (size_t c = 1; c < n.children.size(); ++c) {
          auto b = eval(*n.children[c]);
          for (size_t r = 0; r < rows; ++r) a[r] = n.kind == Node::And ? (a[r] & b[r]) : (a[r] | b[r]);
        }
        out = std::move(a);
        return out;
      }
      case Node::Not: {
        auto a = eval(*n.children[0]);
        for (size_t r = 0; r < rows; ++r) out[r] = !a[r];
        return out;
      }
      default:
        break;
    }
    std::string s1, s2, s3;
    std::vector<Resolved> ops;
    for (const auto& o : n.operands) ops.push_back(resolve(o));
    // The predicate for one left-hand value (other operands read at row r).
    auto decide = [&](const Value& a, size_t r) {
      bool hit = false;
      if (n.kind == Node::IsMissing) {
        hit = a.missing != n.negate;
      } else if (!a.missing) {
        if (n.kind == Node::Compare) {
          Value b = value(ops[1], r, s2);
          if (!b.missing) {
            int c = compare(a, b);
            const std::string& op = n.op;
            hit = op == "==" ? c == 0 : op == "!=" ? c != 0 : op == "<" ? c < 0
                : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
          }
        } else if (n.kind == Node::Between) {
          Value lo = value(ops[1], r, s2), hi = value(ops[2], r, s3);
          hit = !lo.missing && !hi.missing && compare(a, lo) >= 0 && compare(a, hi) <= 0;
        } else if (n.kind == Node::In) {
          for (size_t i = 1; i < ops.size() && !hit; ++i) hit = compare(a, value(ops[i], r, s2)) == 0;
          hit = hit != n.negate;
        } else if (n.kind == Node::Contains) {
          Value b = value(ops[1], r, s2);
          hit = !b.missing && a.text.find(b.text) != std::string_view::npos;
        } else if (n.kind == Node::Matches) {
          hit = re2::RE2::PartialMatch(re2::StringPiece(a.text.data(), a.text.size()), *n.regex);
        }
      }
      return hit;
    };
    bool literals_only = true;
    for (size_t i = 1; i < ops.size(); ++i) literals_only = literals_only && !ops[i].data;
    const ColumnData* left = ops[0].data;
    if (left && left->has_dict && literals_only && n.operands[0].kind == Node::Operand::Column) {
      // Decide once per distinct value (and once for missing), then look it up per row.
      std::vector<uint8_t> table(left->values.size() + 1);
      table[0] = decide(Value{true, std::nan(""), {}}, 0);
      for (size_t i = 0; i < left->values.size(); ++i)
        table[i + 1] = decide(Value{false, left->value_num[i], left->values[i]}, 0);
      const int32_t* ids = left->ids.data();
      for (size_t r = 0; r < rows; ++r) out[r] = table[ids[r] + 1];
      return out;
    }
    for (size_t r = 0; r < rows; ++r) {
      for (const auto& o : ops)
        if (o.data) t.prefetch(*o.data->col, r + Table::kPrefetchAhead);
      out[r] = decide(value(ops[0], r, s1), r);
    }
    return out;
  }
};

void collect_columns(const Node& n, std::vector<std::string>& out) {
  for (const auto& o : n.operands)
    if ((o.kind == Node::Operand::Column || o.kind == Node::Operand::Length) &&
        std::find(out.begin(), out.end(), o.text) == out.end())
      out.push_back(o.text);
  for (const auto& c : n.children) collect_columns(*c, out);
}

}  // namespace

SliceExpression::ParsedColumn SliceExpression::parse_column(const Table& t,
                                                            const std::string& name) {
  ParsedColumn d;
  d.col = &t.get(name);
  const size_t n = t.num_rows();
  d.num.resize(n);
  d.ids.resize(n);
  std::unordered_map<std::string_view, int32_t> dict;
  constexpr size_t kMaxDistinct = 65536;
  d.has_dict = true;
  for (size_t r = 0; r < n; ++r) {
    t.prefetch(*d.col, r + Table::kPrefetchAhead);
    std::string_view v = t.cell(*d.col, r);
    if (d.has_dict) {
      if (v.empty()) {
        d.ids[r] = -1;
        d.num[r] = std::nan("");
        continue;
      }
      auto it = dict.find(v);
      if (it == dict.end()) {
        // Mostly distinct values (jittered numbers, free text): a dictionary would not pay off.
        if (dict.size() >= kMaxDistinct || (r >= 4096 && dict.size() * 2 > r)) {
          d.has_dict = false;  // too many distinct values: numbers are parsed per row instead
        } else {
          double x;
          it = dict.emplace(v, static_cast<int32_t>(d.values.size())).first;
          d.values.push_back(v);
          d.value_num.push_back(parse_double(v, x) ? x : std::nan(""));
        }
      }
      if (d.has_dict) {
        d.ids[r] = it->second;
        d.num[r] = d.value_num[it->second];
        continue;
      }
    }
    double x;
    d.num[r] = parse_double(v, x) ? x : std::nan("");
  }
  if (!d.has_dict) {
    d.ids.clear();
    d.values.clear();
    d.value_num.clear();
  }
  return d;
}

SliceExpression::ParsedColumn SliceExpression::parse_codes(const Table& t, const std::string& name,
                                                           const torch::Tensor& codes,
                                                           const std::vector<std::string>& vocab) {
  ParsedColumn d;
  d.col = &t.get(name);
  const size_t n = t.num_rows();
  d.has_dict = true;
  d.ids.resize(n);
  d.num.resize(n);
  // Dictionary ids 0..V-1 are the vocabulary (id 0, <UNK>, is never assigned); unseen values
  // found in code-0 rows are appended.
  for (const auto& v : vocab) {
    double x;
    d.values.emplace_back(v);
    d.value_num.push_back(parse_double(v, x) ? x : std::nan(""));
  }
  d.values[0] = std::string_view();  // matches nothing: code-0 rows are resolved below
  std::unordered_map<std::string_view, int32_t> extra;
  auto c = codes.contiguous();
  const int64_t* code = c.data_ptr<int64_t>();
  for (size_t r = 0; r < n; ++r) {
    int32_t id = static_cast<int32_t>(code[r]);
    if (id == 0) {
      std::string_view v = t.cell(*d.col, r);
      if (v.empty()) {
        id = -1;
      } else {
        auto it = extra.find(v);
        if (it == extra.end()) {
          double x;
          it = extra.emplace(v, static_cast<int32_t>(d.values.size())).first;
          d.values.push_back(v);
          d.value_num.push_back(parse_double(v, x) ? x : std::nan(""));
        }
        id = it->second;
      }
    }
    d.ids[r] = id;
    d.num[r] = id < 0 ? std::nan("") : d.value_num[id];
  }
  return d;
}

SliceExpression SliceExpression::parse(const std::string& text) {
  SliceExpression e;
  e.text_ = text;
  e.root_ = Parser(text).parse();
  return e;
}

std::vector<std::string> SliceExpression::columns() const {
  std::vector<std::string> out;
  collect_columns(*root_, out);
  return out;
}

std::vector<uint8_t> SliceExpression::evaluate(const Table& t) const {
  ColumnCache cache;
  return evaluate(t, cache);
}

std::vector<uint8_t> SliceExpression::evaluate(const Table& t, ColumnCache& cache) const {
  Evaluator ev{t, cache.columns};
  return ev.eval(*root_);
}

}  // namespace kiln
