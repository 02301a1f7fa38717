#include "pipelines/preprocess.h"

#include "version.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <cstdlib>
#include <iostream>
#include <algorithm>
#include <atomic>
#include <random>
#include <thread>
#include <tuple>

#include "data/split.h"
#include "features/feature.h"
#include "util/archive.h"
#include "util/error.h"
#include "util/parallel.h"
#include "util/fs.h"
#include "util/lru_cache.h"
#include "util/tensor_bytes.h"
#include "util/strings.h"

namespace kiln {
namespace {

// Part of the cache key: a new build never reads a cache an older build wrote.
constexpr const char* kCacheVersion = "kiln-preprocessing-3-" KILN_GIT_HASH;

std::vector<std::string> columns_needed(const Config& c, bool outputs) {
  std::vector<std::string> cols;
  auto add = [&](const std::string& s) {
    for (const auto& x : cols)
      if (x == s) return;
    cols.push_back(s);
  };
  for (const auto& f : c.input_features) add(f.column);
  if (outputs)
    for (const auto& f : c.output_features) add(f.column);
  return cols;
}

// Everything that changes the preprocessed tensors.
std::string preprocessing_signature(const Config& c) {
  YAML::Emitter e;
  YamlWriter w(e);
  e << YAML::BeginMap;
  w("version", std::string(kCacheVersion));
  w("seed", c.seed());
  w("preprocessing", c.preprocessing);
  if (c.slices) w("slices", *c.slices);
  for (const auto* list : {&c.input_features, &c.output_features})
    for (const auto& f : *list) {
      e << YAML::Key << f.name << YAML::Value << YAML::BeginMap;
      w("type", f.type);
      w("column", f.column);
      w("output", f.is_output);
      e << YAML::Key << "preprocessing" << YAML::Value << YAML::BeginMap;
      f.preprocessing->write(w);
      e << YAML::EndMap << YAML::EndMap;
    }
  e << YAML::EndMap;
  return e.c_str();
}

torch::Tensor to_index_tensor(const std::vector<int64_t>& v) {
  return torch::tensor(v, torch::kLong);
}

void save_cache(const std::string& path, const Config& c, const Prepared& p) {
  {
    torch::serialize::OutputArchive ar;
    std::vector<std::string> names;
    int i = 0;
    for (const auto& [name, t] : p.data.columns) {
      ar.write("col" + std::to_string(i++), t);
      names.push_back(name);
    }
    ar.write("names", bytes_tensor(join(names, "\n")));
    ar.write("train", p.data.train);
    ar.write("validation", p.data.validation);
    ar.write("test", p.data.test);
    ar.write("metadata", bytes_tensor(metadata_to_json(p.metadata)));
    ar.write("counts", torch::tensor({p.rows, p.dropped_rows}, torch::kLong));
    ar.write("slice_names", bytes_tensor(join(p.data.slices.names, "\n")));
    ar.write("drift_reference", bytes_tensor(p.drift_reference));
    ar.write("slice_membership", p.data.slices.membership.defined()
                                     ? p.data.slices.membership
                                     : torch::zeros({0, 0}, torch::kBool));
    (void)c;
    save_archive(ar, path);
  }
}

bool load_cache(const std::string& path, Prepared& p) {
  try {
    torch::serialize::InputArchive ar;
    ar.load_from(path);
    torch::Tensor names_t, meta_t, counts;
    ar.read("names", names_t);
    std::string names = tensor_bytes(names_t);
    size_t start = 0;
    int i = 0;
    while (start <= names.size()) {
      size_t nl = names.find('\n', start);
      if (nl == std::string::npos) nl = names.size();
      torch::Tensor t;
      ar.read("col" + std::to_string(i++), t);
      p.data.columns[names.substr(start, nl - start)] = t;
      start = nl + 1;
    }
    ar.read("train", p.data.train);
    ar.read("validation", p.data.validation);
    ar.read("test", p.data.test);
    ar.read("metadata", meta_t);
    ar.read("counts", counts);
    p.metadata = metadata_from_json(tensor_bytes(meta_t), path);
    torch::Tensor slice_names, drift;
    ar.read("slice_names", slice_names);
    ar.read("drift_reference", drift);
    p.drift_reference = tensor_bytes(drift);
    ar.read("slice_membership", p.data.slices.membership);
    std::string sn = tensor_bytes(slice_names);
    for (size_t a = 0; !sn.empty() && a <= sn.size();) {
      size_t b = sn.find('\n', a);
      if (b == std::string::npos) b = sn.size();
      p.data.slices.names.push_back(sn.substr(a, b - a));
      a = b + 1;
    }
    p.rows = counts[0].item<int64_t>();
    p.dropped_rows = counts[1].item<int64_t>();
    return true;
  } catch (const std::exception&) {
    p.data = Dataset{};
    p.metadata.clear();
    return false;
  }
}

void check_target_present(const Config& c, const Table& t) {
  for (const auto& f : c.output_features) {
    const Column& col = t.get(f.column);
    bool any = false;
    for (size_t r = 0; r < t.num_rows() && !any; ++r) any = !Table::missing(col, r);
    if (!any)
      throw DataError(t.source + ": output feature '" + f.name + "' (column '" + f.column +
                      "') is missing in every row");
  }
}

}  // namespace

namespace {

// Every k-th row, so at most `limit` rows: profiles need distributions, not every row.
std::vector<int64_t> thin(const std::vector<int64_t>& rows, size_t limit) {
  if (rows.size() <= limit) return rows;
  std::vector<int64_t> out;
  out.reserve(limit);
  for (size_t i = 0; i < limit; ++i) out.push_back(rows[i * rows.size() / limit]);
  return out;
}

}  // namespace

DriftReference drift_reference(const Config& c, const Table& t, const std::vector<int64_t>& rows,
                               const SliceSet& slices) {
  DriftReference r;
  r.overall = profile_data(c, t, thin(rows, 200000), nullptr);
  for (size_t s = 0; s < slices.names.size(); ++s) {
    auto member = slices.membership[static_cast<int64_t>(s)];
    const bool* m = member.data_ptr<bool>();
    std::vector<int64_t> in;
    for (int64_t row : rows)
      if (m[row]) in.push_back(row);
    r.slices[slices.names[s]] = profile_data(c, t, thin(in, 20000), &r.overall);
  }
  return r;
}

std::string default_cache_dir() {
  if (const char* d = std::getenv("KILN_CACHE_DIR")) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME")) return path_join(x, "kiln");
  if (const char* h = std::getenv("HOME")) return path_join(path_join(h, ".cache"), "kiln");
  return "";
}

namespace {

Prepared prepare_uncached_in_memory(const Config& c, const std::string& dataset, const PrepareOptions& o);

}  // namespace

Prepared prepare_training_data(const Config& c, const std::string& dataset,
                               const PrepareOptions& o) {
  if (!o.keep_in_memory) return prepare_uncached_in_memory(c, dataset, o);
  // A hyperopt worker keeps the data of the last few preprocessing variants its trials used
  // (a search over preprocessing options alternates between a few); older ones are read again
  // from the on-disk cache. Bounded: a worker's memory does not grow with the number of variants.
  static LruCache<std::string, Prepared> kept(kKeptPreparedVariants);
  std::error_code ec;
  const auto size = std::filesystem::file_size(dataset, ec);
  const auto mtime = std::filesystem::last_write_time(dataset, ec).time_since_epoch().count();
  const std::string key = dataset + "\n" + std::to_string(size) + "\n" + std::to_string(mtime) + "\n" +
                          preprocessing_signature(c);
  if (!ec)
    if (auto hit = kept.get(key)) {
      Prepared p = std::move(*hit);
      p.from_cache = true;
      p.seconds = 0;
      return p;
    }
  Prepared p = prepare_uncached_in_memory(c, dataset, o);
  if (!ec) kept.put(key, p);
  return p;
}

namespace {

Prepared prepare_uncached_in_memory(const Config& c, const std::string& dataset, const PrepareOptions& o) {
  auto t0 = std::chrono::steady_clock::now();
  const ThreadScope thread_scope(o.threads);  // the decoders' threads: --threads, not the machine's
  Prepared p;
  std::string text = read_file(dataset);
  p.dataset_hash = hash_bytes(text.data(), text.size());
  std::string sig = preprocessing_signature(c);
  uint64_t key = hash_bytes(sig.data(), sig.size(), p.dataset_hash);
  // Lazily loaded columns (images with in_memory: false) keep the table, not encoded rows: such
  // data is prepared again each time (reading paths is cheap; the decoding happens per batch).
  bool any_lazy = false;
  for (const auto& f : c.input_features) any_lazy = any_lazy || feature_kind(f.type).lazy_rows(f);
  if (!o.cache_dir.empty() && !any_lazy) {
    p.cache_path = path_join(o.cache_dir, hex64(key) + ".pt");
    if (file_exists(p.cache_path) && load_cache(p.cache_path, p)) {
      p.from_cache = true;
      if (!o.quiet)
        std::cerr << "kiln: using cached preprocessed data " << p.cache_path << "\n";
      p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      return p;
    }
  }

  ReadOptions ro;
  ro.columns = columns_needed(c, true);
  for (const auto& s : split_columns(c.preprocessing)) ro.columns.push_back(s);
  for (const auto& s : slice_columns(c)) ro.columns.push_back(s);
  ro.threads = o.threads;
  auto table = std::make_shared<const Table>(parse_table(std::move(text), dataset, ro));
  const Table& t = *table;
  check_target_present(c, t);
  const size_t n = t.num_rows();
  std::vector<uint8_t> keep(n, 1);
  const auto& pc = c.preprocessing;
  if (pc.sample_ratio < 1.0 || pc.sample_size) {
    std::mt19937_64 rng(static_cast<uint64_t>(c.seed()) ^ 0x5a5a5a5aull);
    std::vector<size_t> idx(n);
    for (size_t i = 0; i < n; ++i) idx[i] = i;
    std::shuffle(idx.begin(), idx.end(), rng);
    size_t want = pc.sample_size ? std::min<size_t>(n, *pc.sample_size)
                                 : static_cast<size_t>(std::llround(pc.sample_ratio * n));
    for (size_t i = want; i < n; ++i) keep[idx[i]] = 0;
  }
  for (const auto* list : {&c.input_features, &c.output_features})
    for (const auto& f : *list) feature_kind(f.type).mark_dropped(f, t, t.get(f.column), keep);
  size_t kept = 0;
  for (auto k : keep) kept += k;
  p.rows = static_cast<int64_t>(n);
  p.dropped_rows = static_cast<int64_t>(n - kept);
  Splits s = split_rows(t, pc, c.seed(), keep);
  if (s.train.empty())
    throw DataError(dataset + ": the training split is empty (" +
                    std::to_string(s.validation.size()) + " validation, " +
                    std::to_string(s.test.size()) + " test rows)");
  // Fit (training rows) and encode (all rows) each feature; features are independent, so they
  // are spread over the threads.
  std::vector<const FeatureConfig*> features;
  for (const auto* list : {&c.input_features, &c.output_features})
    for (const auto& f : *list) features.push_back(&f);
  std::vector<FeatureMetadata> metas(features.size());
  std::vector<torch::Tensor> encoded(features.size());
  std::vector<std::shared_ptr<const LazyColumn>> lazy(features.size());
  parallel_for(features.size(), o.threads, [&](size_t i) {
    const FeatureConfig& f = *features[i];
    const FeatureKind& kind = feature_kind(f.type);
    if (!f.is_output && kind.lazy_rows(f)) {
      metas[i] = kind.fit(f, t, t.get(f.column), s.train);
      lazy[i] = kind.lazy(f, metas[i], table, t.get(f.column));
    } else {
      std::tie(metas[i], encoded[i]) = kind.fit_encode(f, t, t.get(f.column), s.train);
    }
  });
  for (size_t i = 0; i < features.size(); ++i) {
    if (lazy[i]) p.data.lazy[features[i]->name] = lazy[i];
    else p.data.columns[features[i]->name] = encoded[i];
    p.metadata.emplace(features[i]->name, std::move(metas[i]));
  }
  p.data.slices = build_slices(c, t, keep, o.threads);
  p.drift_reference = drift_reference_to_json(drift_reference(c, t, s.train, p.data.slices));
  p.data.train = to_index_tensor(s.train);
  p.data.validation = to_index_tensor(s.validation);
  p.data.test = to_index_tensor(s.test);
  if (!p.cache_path.empty()) {
    try {
      make_dirs(o.cache_dir);
      save_cache(p.cache_path, c, p);
    } catch (const std::exception& e) {  // a cache we cannot write only costs time
      if (!o.quiet) std::cerr << "kiln: warning: cache not written: " << e.what() << "\n";
    }
  }
  p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return p;
}

}  // namespace

ScoringData prepare_scoring_data(const Config& c, const MetadataMap& m, const std::string& dataset,
                                 bool with_targets, const std::string& split, int threads) {
  ReadOptions ro;
  ro.columns = columns_needed(c, with_targets);
  if (split != "full")
    for (const auto& s : split_columns(c.preprocessing)) ro.columns.push_back(s);
  for (const auto& s : slice_columns(c))
    (with_targets ? ro.columns : ro.optional_columns).push_back(s);
  ro.threads = threads;
  return prepare_scoring_data(c, m, std::make_shared<Table>(read_table(dataset, ro)), with_targets, split, threads);
}

std::vector<std::string> scoring_columns(const Config& c, bool with_targets) { return columns_needed(c, with_targets); }

ScoringData prepare_scoring_data(const Config& c, const MetadataMap& m, std::shared_ptr<Table> table,
                                 bool with_targets, const std::string& split, int threads) {
  const ThreadScope thread_scope(threads);
  ScoringData d;
  d.table = std::move(table);
  const Table& t = *d.table;
  for (const auto& col : columns_needed(c, with_targets)) t.get(col);  // throws DataError naming the column
  std::mutex lazy_mutex;
  const size_t n = t.num_rows();
  std::vector<uint8_t> keep(n, 1);
  if (with_targets) {
    check_target_present(c, t);
    for (const auto& f : c.output_features)
      feature_kind(f.type).mark_dropped(f, t, t.get(f.column), keep);
  }
  std::vector<const FeatureConfig*> features;
  for (const auto* list : {&c.input_features, &c.output_features}) {
    if (list == &c.output_features && !with_targets) continue;
    for (const auto& f : *list) {
      if (!m.count(f.name)) throw ModelError("feature metadata has no entry for '" + f.name + "'");
      features.push_back(&f);
    }
  }
  std::vector<torch::Tensor> encoded(features.size());
  std::vector<std::vector<double>> numbers(features.size());  // kept for slice predicates
  const auto sliced = slice_columns(c);
  parallel_for(features.size(), threads, [&](size_t i) {
    const FeatureConfig& f = *features[i];
    const auto& kind = feature_kind(f.type);
    if (!f.is_output && kind.lazy_rows(f)) {
      auto lazy = kind.lazy(f, m.at(f.name), d.table, t.get(f.column));
      std::lock_guard<std::mutex> lock(lazy_mutex);
      d.lazy[f.name] = lazy;
    } else if (std::find(sliced.begin(), sliced.end(), f.column) != sliced.end() && !f.is_output)
      std::tie(encoded[i], numbers[i]) = kind.encode_with_numbers(f, m.at(f.name), t, t.get(f.column));
    else
      encoded[i] = kind.encode(f, m.at(f.name), t, t.get(f.column));
  });
  for (size_t i = 0; i < features.size(); ++i)
    if (encoded[i].defined()) d.columns[features[i]->name] = encoded[i];
  std::vector<int64_t> rows;
  if (split == "full") {
    for (size_t r = 0; r < n; ++r)
      if (keep[r]) rows.push_back(static_cast<int64_t>(r));
  } else {
    Splits s = split_rows(t, c.preprocessing, c.seed(), keep);
    rows = split == "training" ? s.train : split == "validation" ? s.validation : s.test;
  }
  d.rows = to_index_tensor(rows);
  bool slice_columns_present = true;
  for (const auto& s : slice_columns(c)) slice_columns_present = slice_columns_present && t.find(s);
  if (slice_columns_present) {
    std::map<std::string, EncodedColumn> encoded;  // category codes stand in for their text
    for (const auto& f : c.input_features)
      if (feature_kind(f.type).codes_identify_values(f))
        encoded[f.column] = EncodedColumn{d.columns.at(f.name), &m.at(f.name).idx2str, nullptr};
    for (size_t i = 0; i < features.size(); ++i)
      if (!numbers[i].empty()) encoded[features[i]->column] = EncodedColumn{{}, nullptr, &numbers[i]};
    d.slices = build_slices(c, t, keep, threads, &encoded);
  }
  return d;
}

}  // namespace kiln
