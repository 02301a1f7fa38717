#pragma once
// The one mechanism behind every config struct: each struct declares its fields once, with their
// limits and choices, in
//   template <class V> void visit(V& v) { v("epochs", epochs, "doc", at_least(1)); ... }
// and the visitors below read it from YAML (types, limits and choices checked where the value is
// written, unknown keys reported with file:line:col and the nearest valid name), write it back as
// YAML, and list it for `kiln describe`. Rules between fields of one struct live in its
// problems() (one place per struct), reported at the struct's mapping; every problem of a config
// is collected and reported together.
#include <yaml-cpp/yaml.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace kiln {

class YamlReader;
class YamlWriter;
struct DocVisitor;

// A numeric limit declared with a field: at_least(1), above(0), in_range(0, 1, false, true) for
// [0, 1). `expected` replaces the generic "expected at least 1, got 0" with a message of its own.
struct Limit {
  double lo = 0, hi = 0;
  bool lo_open = false, hi_open = false;
  std::string expected;
  std::string problem(double v) const;  // "" when v is within the limit
  std::string text() const;             // "at least 1", "a value in [0, 1)"
  Limit saying(std::string message) const {
    Limit l = *this;
    l.expected = std::move(message);
    return l;
  }
};
Limit at_least(double lo);
Limit above(double lo);
Limit in_range(double lo, double hi, bool lo_open = false, bool hi_open = false);

// The values a numeric field may take: one_of_numbers({1, 3, 4}) → "expected 1, 3 or 4, got 2".
struct OneOfNumbers {
  std::vector<double> values;
  std::string expected;  // the message's "expected ..." part, when not the list
  std::string problem(double v) const;
  std::string text() const;
  OneOfNumbers saying(std::string message) const {
    OneOfNumbers o = *this;
    o.expected = std::move(message);
    return o;
  }
};
OneOfNumbers one_of_numbers(std::vector<double> values);

// The values a string field may take (a fixed list, or a registry's names read when checked);
// `noun` names them in the message: "unknown decay 'cosin'; did you mean 'cosine'?".
struct OneOf {
  std::function<std::vector<std::string>()> values;
  std::string noun = "value";
  // Optional: a wider test than equality with one of values() (other spellings), and the
  // message's "expected ..." part.
  std::function<bool(const std::string&)> accepts;
  std::string expected;
  std::string problem(const std::string& v) const;
  std::string text() const;
};
OneOf one_of(std::vector<std::string> values, std::string noun = "value");
OneOf one_of_names(std::function<std::vector<std::string>()> values, std::string noun = "value");
// true | false | auto, in any of parse_auto_bool's spellings (util/strings.h).
OneOf auto_bool();

// A key the mapping must have ("slices.gates[0]: missing 'metric'").
struct Required {};
inline constexpr Required required{};

// Base of every polymorphic options block (encoder, decoder, combiner, feature preprocessing).
struct OptionsBase {
  virtual ~OptionsBase() = default;
  virtual void read(YamlReader& r) = 0;
  virtual void write(YamlWriter& w) const = 0;
  virtual void describe(DocVisitor& d) const = 0;
  virtual std::shared_ptr<OptionsBase> clone() const = 0;
  // Value checks beyond types ("normalization: unknown 'zcore'"), as "key: message".
  virtual std::vector<std::string> problems() const { return {}; }
};

template <class D>
struct Options : OptionsBase {
  void read(YamlReader& r) override { static_cast<D*>(this)->visit(r); }
  void write(YamlWriter& w) const override;
  void describe(DocVisitor& d) const override;
  std::shared_ptr<OptionsBase> clone() const override {
    return std::make_shared<D>(*static_cast<const D*>(this));
  }
};

// A polymorphic block `{type: name, ...options}`: the factory makes the options struct for a
// type name (nullptr if unknown, filling `candidates` with the valid names).
struct TypedOptions {
  std::string type;
  std::shared_ptr<OptionsBase> options;
  std::function<std::shared_ptr<OptionsBase>(const std::string&, std::vector<std::string>&)>
      factory;
  std::string what;     // "encoder", for messages
  std::string context;  // " for number feature", for messages
  template <class T>
  const T& as() const {
    return dynamic_cast<const T&>(*options);
  }
};

template <class T, class = void>
struct has_visit : std::false_type {};
template <class T>
struct has_visit<T, std::void_t<decltype(std::declval<T&>().visit(std::declval<YamlReader&>()))>>
    : std::true_type {};

// Plain config structs (not Options) may state rules between their fields in problems().
template <class T, class = void>
struct has_problems : std::false_type {};
template <class T>
struct has_problems<T, std::void_t<decltype(std::declval<const T&>().problems())>> : std::true_type {};

std::string yaml_where(const std::string& file, const YAML::Node& n);
std::string scalar_text(const YAML::Node& n);

class YamlReader {
 public:
  YamlReader(std::string file, YAML::Node node, std::string path, std::vector<std::string>* errors)
      : file_(std::move(file)), node_(std::move(node)), path_(std::move(path)), errors_(errors) {}

  template <class T, class... Checks>
  void operator()(const char* key, T& field, const char* /*doc*/ = "", const Checks&... checks) {
    known_.push_back(key);
    if (!node_.IsMap()) return;
    const YAML::Node& cn = node_;
    YAML::Node v = cn[key];
    if (!v) {
      if constexpr ((std::is_same_v<Checks, Required> || ...))
        error(node_, path_.empty() ? "config" : path_, std::string("missing '") + key + "'");
      return;
    }
    if constexpr (std::is_same_v<T, std::string>)
      if (v.IsNull() && (null_means_none(checks) || ...)) {  // Ludwig's `normalization: null`
        field = "none";
        return;
      }
    const size_t before = errors_->size();
    read_value(v, field, child(key));
    if (errors_->size() == before) (check(v, child(key), field, checks), ...);
  }
  // A null value means "none" for a string field whose choices include "none" (Ludwig writes
  // null for "no normalization", "no decay").
  template <class C>
  static bool null_means_none(const C& c) {
    if constexpr (std::is_same_v<C, OneOf>) return c.problem("none").empty();
    else return false;
  }
  // Reports messages of the "key: message" form (problems()) at `at`, under `path`.
  void report(const YAML::Node& at, const std::string& path, const std::vector<std::string>& problems);

  void read_typed(const YAML::Node& v, TypedOptions& out, const std::string& path);
  void mark_known(const char* key) { known_.push_back(key); }
  // Reports keys of the map that no visit() call named. Call after visiting.
  void finish(const std::string& what = "");
  void error(const YAML::Node& at, const std::string& path, const std::string& msg) {
    errors_->push_back(yaml_where(file_, at) + ": " + path + ": " + msg);
  }
  std::string child(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  const std::string& file() const { return file_; }
  const std::string& path() const { return path_; }
  const YAML::Node& node() const { return node_; }
  std::vector<std::string>* errors() const { return errors_; }

  template <class T>
  void read_value(const YAML::Node& v, T& out, const std::string& path) {
    if constexpr (std::is_same_v<T, bool>) {
      if (!v.IsScalar() || !YAML::convert<bool>::decode(v, out))
        error(v, path, "expected true or false, got " + scalar_text(v));
    } else if constexpr (std::is_integral_v<T>) {
      long long x;
      if (!v.IsScalar() || !YAML::convert<long long>::decode(v, x))
        error(v, path, "expected an integer, got " + scalar_text(v));
      else
        out = static_cast<T>(x);
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!v.IsScalar() || !YAML::convert<T>::decode(v, out))
        error(v, path, "expected a number, got " + scalar_text(v));
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!v.IsScalar())
        error(v, path, "expected a string, got " + scalar_text(v));
      else
        out = v.Scalar();
    } else if constexpr (std::is_same_v<T, YAML::Node>) {
      out = v;
    } else if constexpr (std::is_same_v<T, TypedOptions>) {
      read_typed(v, out, path);
    } else if constexpr (is_optional<T>::value) {
      if (v.IsNull()) {
        out.reset();
      } else {
        typename T::value_type x{};
        size_t before = errors_->size();
        read_value(v, x, path);
        if (errors_->size() == before) out = std::move(x);
      }
    } else if constexpr (is_vector<T>::value) {
      if (!v.IsSequence()) {
        error(v, path, "expected a list, got " + scalar_text(v));
        return;
      }
      out.clear();
      for (size_t i = 0; i < v.size(); ++i) {
        typename T::value_type x{};
        read_value(v[i], x, path + "[" + std::to_string(i) + "]");
        out.push_back(std::move(x));
      }
    } else if constexpr (is_string_map<T>::value) {
      if (!v.IsMap()) {
        error(v, path, "expected a mapping, got " + scalar_text(v));
        return;
      }
      out.clear();
      for (auto it = v.begin(); it != v.end(); ++it) {
        typename T::mapped_type x{};
        read_value(it->second, x, path + "." + it->first.Scalar());
        out[it->first.Scalar()] = std::move(x);
      }
    } else if constexpr (has_visit<T>::value) {
      if (!v.IsMap()) {
        error(v, path, "expected a mapping, got " + scalar_text(v));
        return;
      }
      YamlReader sub(file_, v, path, errors_);
      const size_t before = errors_->size();
      out.visit(sub);
      sub.finish();
      if constexpr (has_problems<T>::value)
        if (errors_->size() == before) report(v, path, out.problems());
    } else {
      static_assert(sizeof(T) == 0, "unsupported config field type");
    }
  }

  // Applies one declared limit or choice to a value just read (each element of a list).
  template <class T, class C>
  void check(const YAML::Node& v, const std::string& path, const T& value, const C& c) {
    if constexpr (std::is_same_v<C, Required>) {
      return;
    } else if constexpr (is_optional<T>::value) {
      if (value) check(v, path, *value, c);
    } else if constexpr (is_vector<T>::value) {
      for (size_t i = 0; i < value.size() && v.IsSequence(); ++i)
        check(v[i], path + "[" + std::to_string(i) + "]", value[i], c);
    } else if constexpr (std::is_same_v<C, Limit> || std::is_same_v<C, OneOfNumbers>) {
      static_assert(std::is_arithmetic_v<T>, "a Limit needs a numeric field");
      const std::string p = c.problem(static_cast<double>(value));
      if (!p.empty()) error(v, path, p);
    } else if constexpr (std::is_same_v<C, OneOf>) {
      static_assert(std::is_same_v<T, std::string>, "a OneOf needs a string field");
      const std::string p = c.problem(value);
      if (!p.empty()) error(v, path, p);
    } else {
      static_assert(sizeof(C) == 0, "unsupported check");
    }
  }

 private:
  template <class T>
  struct is_optional : std::false_type {};
  template <class T>
  struct is_optional<std::optional<T>> : std::true_type {};
  template <class T>
  struct is_vector : std::false_type {};
  template <class T>
  struct is_vector<std::vector<T>> : std::true_type {};
  template <class T>
  struct is_string_map : std::false_type {};
  template <class T>
  struct is_string_map<std::map<std::string, T>> : std::true_type {};

  std::string file_;
  YAML::Node node_;
  std::string path_;
  std::vector<std::string>* errors_;
  std::vector<std::string> known_;
};

class YamlWriter {
 public:
  explicit YamlWriter(YAML::Emitter& out) : out_(out) {}
  template <class T, class... Checks>
  void operator()(const char* key, const T& field, const char* /*doc*/ = "", const Checks&...) {
    if constexpr (is_opt<T>::value) {
      if (!field) return;
      out_ << YAML::Key << key << YAML::Value;
      write_value(*field);
    } else if constexpr (std::is_same_v<T, YAML::Node>) {
      if (!field || field.IsNull()) return;
      out_ << YAML::Key << key << YAML::Value << field;
    } else {
      out_ << YAML::Key << key << YAML::Value;
      write_value(field);
    }
  }
  template <class T>
  void write_value(const T& v) {
    if constexpr (std::is_same_v<T, TypedOptions>) {
      out_ << YAML::BeginMap << YAML::Key << "type" << YAML::Value << v.type;
      if (v.options) v.options->write(*this);
      out_ << YAML::EndMap;
    } else if constexpr (has_visit<T>::value) {
      out_ << YAML::BeginMap;
      const_cast<T&>(v).visit(*this);
      out_ << YAML::EndMap;
    } else if constexpr (is_vec<T>::value) {
      out_ << YAML::Flow << YAML::BeginSeq;
      for (const auto& x : v) write_value(x);
      out_ << YAML::EndSeq;
    } else if constexpr (is_map<T>::value) {
      out_ << YAML::BeginMap;
      for (const auto& [k, x] : v) {
        out_ << YAML::Key << k << YAML::Value;
        write_value(x);
      }
      out_ << YAML::EndMap;
    } else if constexpr (std::is_floating_point_v<T>) {
      out_ << double_text(v);
    } else {
      out_ << v;
    }
  }
  YAML::Emitter& out() { return out_; }

 private:
  static std::string double_text(double v);
  template <class T>
  struct is_opt : std::false_type {};
  template <class T>
  struct is_opt<std::optional<T>> : std::true_type {};
  template <class T>
  struct is_vec : std::false_type {};
  template <class T>
  struct is_vec<std::vector<T>> : std::true_type {};
  template <class T>
  struct is_map : std::false_type {};
  template <class T>
  struct is_map<std::map<std::string, T>> : std::true_type {};
  YAML::Emitter& out_;
};

// Lists (key, default, doc) of an options struct, for `kiln describe`.
struct DocVisitor {
  struct Item {
    std::string key, default_value, doc;
    std::string limits;  // "at least 1; required", from the checks declared with the field
  };
  std::vector<Item> items;
  template <class T, class... Checks>
  void operator()(const char* key, const T& field, const char* doc = "", const Checks&... checks) {
    YAML::Emitter e;
    e << YAML::Flow;
    YamlWriter w(e);
    if constexpr (std::is_same_v<T, YAML::Node> || std::is_same_v<T, TypedOptions>) {
      e << "{}";
    } else if constexpr (YamlWriter_is_opt<T>::value) {
      if (field) w.write_value(*field); else e << YAML::Null;
    } else {
      w.write_value(field);
    }
    std::string limits;
    [[maybe_unused]] auto add = [&](const std::string& t) { limits += (limits.empty() ? "" : "; ") + t; };
    (add(check_text(checks)), ...);
    items.push_back({key, e.c_str(), doc, limits});
  }
  static std::string check_text(const Limit& l) { return l.text(); }
  static std::string check_text(const OneOf& o) { return o.text(); }
  static std::string check_text(const OneOfNumbers& o) { return o.text(); }
  static std::string check_text(const Required&) { return "required"; }
  template <class T>
  struct YamlWriter_is_opt : std::false_type {};
  template <class T>
  struct YamlWriter_is_opt<std::optional<T>> : std::true_type {};
};

template <class D>
void Options<D>::write(YamlWriter& w) const {
  const_cast<D*>(static_cast<const D*>(this))->visit(w);
}
template <class D>
void Options<D>::describe(DocVisitor& d) const {
  const_cast<D*>(static_cast<const D*>(this))->visit(d);
}

}  // namespace kiln
