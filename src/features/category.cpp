// category: an index per row into a vocabulary built from the TRAINING split (most frequent
// first, ties by value). Inputs reserve index 0 for <UNK> (unseen and missing values); outputs
// predict the training labels only, and a label unseen in training counts as wrong.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "config/schema.h"
#include "data/synthesize.h"
#include "features/feature.h"
#include "util/error.h"
#include "util/strings.h"

namespace kiln {
namespace {

constexpr const char* kUnk = "<UNK>";

struct CategoryPreprocessing : Options<CategoryPreprocessing> {
  std::string missing_value_strategy = "fill_with_const";
  std::string fill_value = kUnk;
  int most_common = 10000;
  bool lowercase = false;
  template <class V>
  void visit(V& v) {
    v("missing_value_strategy", missing_value_strategy, "how missing values are filled",
      one_of({"fill_with_const", "fill_with_mode", "bfill", "ffill", "drop_row"}));
    v("fill_value", fill_value, "fill_with_const: the value (default <UNK>)");
    v("most_common", most_common, "maximum vocabulary size (most frequent values)", at_least(1));
    v("lowercase", lowercase, "lower-case values before building the vocabulary");
  }
};

class CategoryKind : public FeatureKind, public OutputKind {
 public:
  std::string synthesize(const FeatureConfig&, Synthesis& s, int64_t) const override {
    return "c" + std::to_string(s.pick(12));
  }
  unsigned metadata_fields() const override { return metadata_fields::vocabulary; }
  const OutputKind* output() const override { return this; }
  FeatureMetadata fit(const FeatureConfig& f, const Table& t, const Column& c,
                      const std::vector<int64_t>& rows) const override {
    const auto& p = f.prep<CategoryPreprocessing>();
    FeatureMetadata m;
    m.name = f.name, m.type = "category";
    // Keys are views into the table's buffer (no allocation per cell) unless lower-casing.
    std::unordered_map<std::string_view, int64_t> counts;
    std::vector<std::unique_ptr<std::string>> lowered;
    std::unordered_map<std::string, std::string_view> lowered_index;
    for (size_t i = 0; i < rows.size(); ++i) {
      const int64_t r = rows[i];
      if (i + Table::kPrefetchAhead < rows.size()) t.prefetch(c, rows[i + Table::kPrefetchAhead]);
      if (Table::missing(c, r)) {
        ++m.training_missing;
        continue;
      }
      std::string_view v = t.cell(c, r);
      if (p.lowercase) {
        std::string l = to_lower(v);
        auto it = lowered_index.find(l);
        if (it == lowered_index.end()) {
          lowered.push_back(std::make_unique<std::string>(l));
          it = lowered_index.emplace(l, *lowered.back()).first;
        }
        v = it->second;
      }
      counts[v]++;
    }
    m.training_rows = static_cast<int64_t>(rows.size());
    std::vector<std::pair<std::string_view, int64_t>> sorted(counts.begin(), counts.end());
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    if (static_cast<int>(sorted.size()) > p.most_common) sorted.resize(p.most_common);
    if (!f.is_output) {
      m.idx2str.push_back(kUnk);
      m.str2freq.push_back(m.training_missing);
    }
    for (auto& [v, n] : sorted) {
      if (!f.is_output && v == std::string_view(kUnk)) {
        m.str2freq[0] += n;
        continue;
      }
      m.idx2str.emplace_back(v);
      m.str2freq.push_back(n);
    }
    if (f.is_output && m.idx2str.empty())
      throw DataError(t.source + ": output feature '" + f.name + "' (column '" + c.name +
                      "') has no values in the training split");
    m.index();
    if (f.is_output && f.loss.background_class && background_index(f, m) < 0)
      throw DataError(t.source + ": output feature '" + f.name + "': loss.background_class '" +
                      *f.loss.background_class + "' is neither a label of the training rows nor an index below " +
                      std::to_string(m.vocab_size()));
    return m;
  }

  // loss.background_class as a vocabulary index: the label, else a number read as an index; -1
  // when it is neither (or not set).
  static int64_t background_index(const FeatureConfig& f, const FeatureMetadata& m) {
    if (!f.loss.background_class) return -1;
    const std::string& b = *f.loss.background_class;
    auto it = m.str2idx.find(b);
    if (it != m.str2idx.end()) return it->second;
    char* end = nullptr;
    const long long i = std::strtoll(b.c_str(), &end, 10);
    if (end == b.c_str() || *end != '\0' || i < 0 || i >= m.vocab_size()) return -1;
    return i;
  }

  // Ludwig's open-set losses (Dhamija et al. 2018): known rows get the cross-entropy (objectosphere:
  // plus max(0, xi - |logits|)^2), rows of the background class the negative entropy of their
  // prediction (objectosphere: plus zeta |logits|^2), each group averaged over its own rows and the
  // two summed, as Ludwig computes them.
  static LossResult open_set_loss(const FeatureConfig& f, const FeatureMetadata& m, const torch::Tensor& logits,
                                  const torch::Tensor& y) {
    namespace F = torch::nn::functional;
    const bool sphere = f.loss.type == "objectosphere";
    const int64_t background = background_index(f, m);
    auto valid = y >= 0;
    auto unknown = valid & (y == background);
    auto known = valid & unknown.logical_not();
    auto ce = F::cross_entropy(logits, y.clamp_min(0), F::CrossEntropyFuncOptions().reduction(torch::kNone));
    auto norm = logits.norm(2, 1);
    auto known_rows = sphere ? ce + (f.loss.xi - norm).clamp_min(0).pow(2) : ce;
    auto p = torch::softmax(logits, 1);
    auto unknown_rows = (p * torch::log(p + 1e-8)).sum(1);
    if (sphere) unknown_rows = unknown_rows + f.loss.zeta * norm.pow(2);
    auto kf = known.to(torch::kFloat32), uf = unknown.to(torch::kFloat32);
    auto rows = known_rows * kf + unknown_rows * uf;
    auto mean = (known_rows * kf).sum() / kf.sum().clamp_min(1) + (unknown_rows * uf).sum() / uf.sum().clamp_min(1);
    return {mean * f.loss.weight, rows.sum().item<double>(), rows.detach()};
  }

  torch::Tensor encode(const FeatureConfig& f, const FeatureMetadata& m, const Table& t,
                       const Column& c) const override {
    const auto& p = f.prep<CategoryPreprocessing>();
    const int64_t n = static_cast<int64_t>(t.num_rows());
    auto out = torch::empty({n}, torch::kInt64);
    int64_t* o = out.data_ptr<int64_t>();
    const int64_t unknown = f.is_output ? -100 : 0;  // -100: ignored by the loss, counted wrong
    // The metadata's own index (built once when it was fitted or loaded, not per call: a served
    // request of one row must not rebuild the vocabulary's table).
    std::string key;
    auto lookup = [&](std::string_view v) -> int64_t {
      if (p.lowercase) key = to_lower(v);
      else key.assign(v.data(), v.size());
      auto it = m.str2idx.find(key);
      // a literal "<UNK>" input value is unknown, like any other
      return it == m.str2idx.end() || (!f.is_output && key == kUnk) ? unknown : it->second;
    };
    int64_t fill = p.fill_value == kUnk ? unknown : lookup(p.fill_value);
    if (p.missing_value_strategy == "fill_with_mode") fill = f.is_output ? 0 : (m.vocab_size() > 1 ? 1 : 0);
    auto src = missing_sources(t, c, p.missing_value_strategy);
    for (int64_t r = 0; r < n; ++r) {
      t.prefetch(c, r + Table::kPrefetchAhead);
      o[r] = src[r] >= 0 ? lookup(t.cell(c, src[r])) : fill;
    }
    return out;
  }

  void mark_dropped(const FeatureConfig& f, const Table& t, const Column& c,
                    std::vector<uint8_t>& keep) const override {
    if (f.is_output || f.prep<CategoryPreprocessing>().missing_value_strategy == "drop_row")
      FeatureKind::mark_dropped(f, t, c, keep);
  }

  bool codes_identify_values(const FeatureConfig& f) const override {
    const auto& p = f.prep<CategoryPreprocessing>();
    return !f.is_output && !p.lowercase && p.missing_value_strategy == "fill_with_const" &&
           p.fill_value == kUnk;
  }

  int64_t output_size(const FeatureConfig&, const FeatureMetadata& m) const override {
    return m.vocab_size();
  }

  LossResult loss(const FeatureConfig& f, const FeatureMetadata& m, const torch::Tensor& logits,
                  const torch::Tensor& target) const override {
    namespace F = torch::nn::functional;
    auto y = target.reshape({-1});
    if (f.loss.type == "entropic_open_set" || f.loss.type == "objectosphere") return open_set_loss(f, m, logits, y);
    auto opts = F::CrossEntropyFuncOptions().reduction(torch::kNone).ignore_index(-100);
    if (f.loss.label_smoothing > 0) opts.label_smoothing(f.loss.label_smoothing);
    torch::Tensor weights;
    if (f.loss.class_weights && !f.loss.class_weights.IsNull()) {
      weights = class_weights(f, m);
      opts.weight(weights);
    }
    auto rows = F::cross_entropy(logits, y, opts);
    auto valid = (y >= 0).to(torch::kFloat32);
    if (f.loss.robust_lambda > 0)
      rows = ((1 - f.loss.robust_lambda) * rows + f.loss.robust_lambda / m.vocab_size()) * valid;
    if (f.loss.confidence_penalty > 0) {
      auto logp = torch::log_softmax(logits, 1);
      auto entropy = -(logp.exp() * logp).sum(1);
      rows = rows - f.loss.confidence_penalty * entropy * valid;
    }
    torch::Tensor denom;
    if (weights.defined())
      denom = (weights.index({y.clamp_min(0)}) * valid).sum().clamp_min(1e-12);
    else
      denom = valid.sum().clamp_min(1);
    return {rows.sum() / denom * f.loss.weight, rows.sum().item<double>(), rows.detach()};
  }

  std::unique_ptr<OutputMetrics> metrics(const FeatureConfig& f,
                                         const FeatureMetadata& m) const override {
    return std::make_unique<CategoryMetrics>(m.idx2str, f.top_k);
  }

  MetricValues prediction_summary(const FeatureConfig&, const FeatureMetadata& m,
                                  const torch::Tensor& logits) const override {
    MetricValues out;  // each class's share of the predictions (the first 20 classes)
    auto pred = logits.argmax(1);
    for (int64_t c = 0; c < logits.size(1) && c < 20; ++c)
      out.push_back({"share_" + m.idx2str[c], (pred == c).to(torch::kFloat64).mean().item<double>()});
    return out;
  }
  torch::Tensor row_errors(const FeatureConfig&, const torch::Tensor& logits,
                           const torch::Tensor& target) const override {  // misclassified: 0/1
    return (logits.argmax(1) != target).to(torch::kFloat64);
  }
  bool target_is_class() const override { return true; }
  Distribution distribution() const override { return Distribution::categorical; }

  std::vector<PredictionColumn> predictions(const FeatureConfig& f, const FeatureMetadata& m,
                                            const torch::Tensor& logits) const override {
    auto prob = torch::softmax(logits.to(torch::kFloat64), 1).contiguous();
    const int64_t n = prob.size(0), C = prob.size(1);
    const double* d = prob.data_ptr<double>();
    std::vector<PredictionColumn> cols = {{f.name + "_predictions", {}},
                                          {f.name + "_probability", {}, true}};
    for (int64_t c = 0; c < C; ++c)
      cols.push_back({f.name + "_probabilities_" + m.idx2str[c], {}, true});
    for (int64_t i = 0; i < n; ++i) {
      int64_t best = 0;
      for (int64_t c = 1; c < C; ++c)
        if (d[i * C + c] > d[i * C + best]) best = c;
      cols[0].values.push_back(m.idx2str[best]);
      cols[1].values.push_back(format_double(d[i * C + best]));
      for (int64_t c = 0; c < C; ++c) cols[2 + c].values.push_back(format_double(d[i * C + c]));
    }
    return cols;
  }

 private:
  // class_weights: a list aligned with the vocabulary, or {label: weight} (others weigh 1).
  static torch::Tensor class_weights(const FeatureConfig& f, const FeatureMetadata& m) {
    const YAML::Node& cw = f.loss.class_weights;
    auto w = torch::ones({m.vocab_size()}, torch::kFloat32);
    const std::string where = "output feature '" + f.name + "': loss.class_weights";
    try {
      if (cw.IsSequence()) {
        if (static_cast<int64_t>(cw.size()) != m.vocab_size())
          throw ConfigError(where + ": expected " + std::to_string(m.vocab_size()) +
                            " weights (one per class: " + join(m.idx2str, ", ") + "), got " +
                            std::to_string(cw.size()));
        for (size_t i = 0; i < cw.size(); ++i) w[i] = cw[i].as<double>();
      } else if (cw.IsMap()) {
        for (auto it = cw.begin(); it != cw.end(); ++it) {
          auto idx = m.str2idx.find(it->first.Scalar());
          if (idx == m.str2idx.end())
            throw ConfigError(where + ": unknown class '" + it->first.Scalar() + "'" +
                              suggest(it->first.Scalar(), m.idx2str));
          w[idx->second] = it->second.as<double>();
        }
      } else {
        throw ConfigError(where + ": expected a list or a mapping of label to weight");
      }
    } catch (const YAML::Exception&) {
      throw ConfigError(where + ": weights must be numbers");
    }
    return w;
  }
};

}  // namespace

void register_category_feature() {
  FeatureSchema s;
  s.doc = "one of a set of values; vocabulary from the training split, <UNK> for the rest";
  s.make_preprocessing = [](bool) { return std::make_shared<CategoryPreprocessing>(); };
  s.default_encoder = "dense";
  s.default_decoder = "classifier";
  s.default_loss = "softmax_cross_entropy";
  s.losses = {"softmax_cross_entropy", "entropic_open_set", "objectosphere"};
  s.metrics = {"loss", "accuracy", "hits_at_k"};
  s.default_metric = "accuracy";
  s.output_top_k = true;
  s.automl_target = true;
  register_feature_type("category", std::move(s), std::make_shared<CategoryKind>());
}

}  // namespace kiln
