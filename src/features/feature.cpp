#include "features/feature.h"

#include "util/error.h"
#include "util/strings.h"

#include <cmath>

namespace kiln {

Registry<std::shared_ptr<const FeatureKind>>& feature_kinds() {
  static Registry<std::shared_ptr<const FeatureKind>> r;
  return r;
}

void register_feature_type(const std::string& type, FeatureSchema schema, std::shared_ptr<const FeatureKind> kind) {
  feature_schemas().add(type, std::move(schema));
  feature_kinds().add(type, std::move(kind));
}

const FeatureKind& feature_kind(const std::string& type) {
  auto* k = feature_kinds().find(type);
  if (!k) throw std::logic_error("feature kind '" + type + "' not registered");
  return **k;
}

const OutputKind& output_kind(const std::string& type) {
  const OutputKind* o = feature_kind(type).output();
  if (!o) throw std::logic_error("feature type '" + type + "' has no output side");
  return *o;
}

MetricValues OutputKind::prediction_summary(const FeatureConfig&, const FeatureMetadata&,
                                             const torch::Tensor& logits) const {
  return {{"mean_prediction", logits.mean().item<double>()}};
}

torch::Tensor OutputKind::row_errors(const FeatureConfig&, const torch::Tensor& logits,
                                      const torch::Tensor& target) const {
  return (logits - target.to(torch::kFloat64)).pow(2);
}

void FeatureKind::mark_dropped(const FeatureConfig& f, const Table& t, const Column& c,
                               std::vector<uint8_t>& keep) const {
  (void)f;
  for (size_t r = 0; r < t.num_rows(); ++r)
    if (Table::missing(c, r)) keep[r] = 0;
}

std::vector<int64_t> missing_sources(const Table& t, const Column& c,
                                     const std::string& strategy) {
  const int64_t n = static_cast<int64_t>(t.num_rows());
  std::vector<int64_t> src(n);
  for (int64_t r = 0; r < n; ++r) src[r] = Table::missing(c, r) ? -1 : r;
  if (strategy == "ffill") {
    int64_t last = -1;
    for (int64_t r = 0; r < n; ++r) src[r] = src[r] >= 0 ? (last = r) : last;
  } else if (strategy == "bfill") {
    int64_t next = -1;
    for (int64_t r = n - 1; r >= 0; --r) src[r] = src[r] >= 0 ? (next = r) : next;
  }
  return src;
}

bool parse_number_list(std::string_view s, std::vector<float>& out, size_t& bad_index, std::string& bad_token) {
  out.clear();
  auto sep = [](char ch) { return ch == ' ' || ch == '\t' || ch == ','; };
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && sep(s[i])) ++i;
    size_t j = i;
    while (j < s.size() && !sep(s[j])) ++j;
    if (j > i) {
      double v;
      std::string_view tok = s.substr(i, j - i);
      if (!parse_double(tok, v) || !std::isfinite(v)) {
        bad_index = out.size() + 1;
        bad_token = std::string(tok);
        return false;
      }
      out.push_back(static_cast<float>(v));
    }
    i = j;
  }
  return true;
}

}  // namespace kiln
