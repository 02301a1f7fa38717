#include "data/synthesize.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cmath>
#include <ctime>
#include <set>

#include "features/feature.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strings.h"

namespace kiln {
namespace {

const std::vector<std::string>& words() {
  static const std::vector<std::string> w = {
      "alpha", "bravo", "charlie", "delta",    "echo",  "foxtrot", "golf",   "hotel", "india",  "juliet",
      "kilo",  "lima",  "mike",    "november", "oscar", "papa",    "quebec", "romeo", "sierra", "tango"};
  return w;
}

}  // namespace

int Synthesis::pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

std::string Synthesis::number() {
  return format_double(std::round(std::normal_distribution<double>(0.0, 1.0)(rng_) * 1000) / 100);
}

std::string Synthesis::numbers(int n) {
  std::vector<std::string> v;
  for (int i = 0; i < n; ++i)
    v.push_back(format_double(std::round(std::normal_distribution<double>(0.0, 1.0)(rng_) * 1000) / 1000));
  return join(v, " ");
}

std::string Synthesis::tokens(int n, const std::string& tokenizer, bool distinct) {
  // The separator the tokenizer splits on (words and punctuation tokenizers split on spaces too).
  const std::string sep = tokenizer == "comma" ? ", " : tokenizer == "underscore" ? "_" : " ";
  std::vector<std::string> out;
  std::set<int> used;
  for (int i = 0; i < n; ++i) {
    const int w = pick(static_cast<int>(words().size()));
    if (distinct && !used.insert(w).second) continue;
    out.push_back(words()[static_cast<size_t>(w)]);
  }
  return join(out, sep);
}

std::string Synthesis::date(const std::string& fmt) {
  std::tm tm{};
  tm.tm_year = 100 + pick(25), tm.tm_mon = pick(12), tm.tm_mday = 1 + pick(28);
  tm.tm_hour = pick(24), tm.tm_min = pick(60);
  char buf[128];
  if (std::strftime(buf, sizeof buf, fmt.c_str(), &tm) == 0)
    throw UsageError("synthesize_dataset: datetime_format '" + fmt + "' writes nothing");
  return buf;
}

std::string Synthesis::image(const std::string& feature, int64_t row, int height, int width, int channels) {
  cv::Mat m(height, width, CV_8UC(channels));
  cv::theRNG().state = static_cast<uint64_t>(pick(1 << 30)) + 1;
  cv::randu(m, cv::Scalar::all(0), cv::Scalar::all(256));
  make_dirs(image_dir_);
  const std::string file = feature + "_" + std::to_string(row) + ".png";
  const std::string path = path_join(image_dir_, file);
  if (!cv::imwrite(path, m)) throw DataError(path + ": cannot write the image");
  return path_join(image_ref_, file);
}

void synthesize_dataset(const Config& c, const SynthesizeOptions& o) {
  if (o.rows < 1) throw UsageError("--dataset_size: expected at least 1 row");
  if (o.output.empty()) throw UsageError("--output: expected a .csv file to write");
  if (!parent_dir(o.output).empty()) make_dirs(parent_dir(o.output));
  std::vector<const FeatureConfig*> features;  // one column per distinct column name
  std::set<std::string> seen;
  for (const auto* list : {&c.input_features, &c.output_features})
    for (const auto& f : *list)
      if (seen.insert(f.column).second) features.push_back(&f);
  std::string stem = o.output;
  const size_t dot = stem.rfind('.');
  if (dot != std::string::npos && stem.find('/', dot) == std::string::npos) stem.resize(dot);
  const size_t slash = stem.rfind('/');
  Synthesis s(o.seed, stem + "_images", (slash == std::string::npos ? stem : stem.substr(slash + 1)) + "_images");
  // The column a split reads, when no feature gives it: a fixed split's 0/1/2 in the config's
  // proportions, a stratified split's classes, a hashed split's ids, a datetime split's hours
  // (one per row, in order, as the rows of a series).
  const SplitConfig& split = c.preprocessing.split;
  std::string split_column;
  if (split.type == "fixed") split_column = split.column.value_or("split");
  else if (split.type == "stratify" || split.type == "hash" || split.type == "datetime")
    split_column = split.column.value_or("");
  if (seen.count(split_column)) split_column.clear();
  auto split_value = [&](int64_t r) -> std::string {
    if (split.type == "stratify") return "s" + std::to_string(r % 3);
    if (split.type == "hash") return "id" + std::to_string(r);
    if (split.type == "datetime") {
      const time_t t = 1704067200 + static_cast<time_t>(r) * 3600;  // 2024-01-01 00:00:00 UTC
      std::tm tm{};
      gmtime_r(&t, &tm);
      char buf[32];
      std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
      return buf;
    }
    const double u = static_cast<double>(r % 100) / 100.0;  // 0/1/2 in the configured proportions
    const auto& p = split.probabilities;
    return u < p[0] ? "0" : u < p[0] + p[1] ? "1" : "2";
  };
  std::string csv;
  for (size_t i = 0; i < features.size(); ++i) csv += (i ? "," : "") + csv_field(features[i]->column);
  if (!split_column.empty()) csv += "," + csv_field(split_column);
  csv += "\n";
  for (int64_t r = 0; r < o.rows; ++r) {
    for (size_t i = 0; i < features.size(); ++i)
      csv += (i ? "," : "") + csv_field(feature_kind(features[i]->type).synthesize(*features[i], s, r));
    if (!split_column.empty()) csv += "," + split_value(r);
    csv += "\n";
  }
  write_file_atomic(o.output, csv);
}

}  // namespace kiln
