#include "features/feature.h"

#include "util/error.h"

namespace kiln {

Registry<std::shared_ptr<const FeatureKind>>& feature_kinds() {
  static Registry<std::shared_ptr<const FeatureKind>> r;
  return r;
}

const FeatureKind& feature_kind(const std::string& type) {
  auto* k = feature_kinds().find(type);
  if (!k) throw std::logic_error("feature kind '" + type + "' not registered");
  return **k;
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

}  // namespace kiln
