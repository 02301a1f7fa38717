// set and bag: a row holds several tokens (space-separated by default). The vocabulary is built
// from the TRAINING split (most frequent first, ties by token). set rows are multi-hot vectors
// over it; bag rows count each token. Inputs map unseen and missing tokens to <UNK> (index 0);
// a set output is a multi-label classifier (one sigmoid per token, jaccard), and tokens unseen
// in training are left out of its targets.
#include <torch/torch.h>

#include <algorithm>
#include <unordered_map>

#include "config/schema.h"
#include "data/synthesize.h"
#include "features/feature.h"
#include "features/tokenizers.h"
#include "util/error.h"
#include "util/strings.h"

namespace kiln {
namespace {

constexpr const char* kUnk = "<UNK>";

struct SetPreprocessing : Options<SetPreprocessing> {
  std::string tokenizer = "space";
  int most_common = 10000;
  bool lowercase = false;
  std::string missing_value_strategy = "fill_with_const";
  std::string fill_value = kUnk;
  template <class V>
  void visit(V& v) {
    v("tokenizer", tokenizer, "how a row splits into tokens", one_of_names(rule_based_tokenizers, "tokenizer"));
    v("most_common", most_common, "maximum vocabulary size (most frequent tokens)", at_least(1));
    v("lowercase", lowercase, "lower-case tokens before building the vocabulary");
    v("missing_value_strategy", missing_value_strategy, "how missing rows are filled",
      one_of({"fill_with_const", "bfill", "ffill", "drop_row"}));
    v("fill_value", fill_value, "fill_with_const: the tokens used for missing rows (default <UNK>)");
  }
  // Tokenizers that need no training (sets are split by rules, not learned pieces).
  static std::vector<std::string> rule_based_tokenizers() {
    std::vector<std::string> names;
    for (const auto& [name, spec] : tokenizers().entries())
      if (!spec.train) names.push_back(name);
    return names;
  }
};

// Jaccard index of predicted (probability >= threshold) and true token sets, averaged over rows;
// a row with both sets empty scores 1.
class SetMetrics : public OutputMetrics {
 public:
  explicit SetMetrics(double threshold) : threshold_(threshold) {}
  PreparedBatch prepare(const torch::Tensor& logits, const torch::Tensor& target,
                        const torch::Tensor& row_losses) const override {
    PreparedBatch p;
    auto pred = torch::sigmoid(logits.detach().to(torch::kFloat32)) >= threshold_;
    auto truth = target.detach() >= 0.5;
    auto inter = (pred & truth).sum(1).to(torch::kFloat64);
    auto uni = (pred | truth).sum(1).to(torch::kFloat64);
    p.a = torch::where(uni > 0, inter / uni.clamp_min(1), torch::ones_like(uni)).contiguous();
    p.loss = row_losses.detach().reshape({-1}).to(torch::kFloat64).contiguous();
    p.rows = p.a.size(0);
    return p;
  }
  void add(const PreparedBatch& p, const bool* mask) override {
    const double* j = p.a.data_ptr<double>();
    const double* l = p.loss.data_ptr<double>();
    for (int64_t i = 0; i < p.rows; ++i) {
      if (mask && !mask[i]) continue;
      ++n_, jaccard_ += j[i], loss_ += l[i];
    }
  }
  void merge(const OutputMetrics& other) override {
    const auto& o = dynamic_cast<const SetMetrics&>(other);
    n_ += o.n_, jaccard_ += o.jaccard_, loss_ += o.loss_;
  }
  MetricValues values() const override {
    double n = std::max<int64_t>(1, n_);
    return {{"loss", loss_ / n}, {"jaccard", jaccard_ / n}};
  }
  std::unique_ptr<OutputMetrics> empty_copy() const override { return std::make_unique<SetMetrics>(threshold_); }
  int64_t count() const override { return n_; }

 private:
  double threshold_;
  int64_t n_ = 0;
  double jaccard_ = 0, loss_ = 0;
};

class SetKind : public FeatureKind, public OutputKind {
 public:
  std::string synthesize(const FeatureConfig& f, Synthesis& s, int64_t) const override {
    return s.tokens(1 + s.pick(3), f.prep<SetPreprocessing>().tokenizer, /*distinct=*/!bag_);
  }
  unsigned metadata_fields() const override { return metadata_fields::vocabulary; }
  const OutputKind* output() const override { return bag_ ? nullptr : this; }  // bag: input only
  explicit SetKind(bool bag) : bag_(bag) {}

  FeatureMetadata fit(const FeatureConfig& f, const Table& t, const Column& c,
                      const std::vector<int64_t>& rows) const override {
    const auto& p = f.prep<SetPreprocessing>();
    FeatureMetadata m;
    m.name = f.name, m.type = bag_ ? "bag" : "set";
    m.training_rows = static_cast<int64_t>(rows.size());
    auto tok = tokenizers().find(p.tokenizer)->make("");
    std::unordered_map<std::string, int64_t> counts;
    for (int64_t r : rows) {
      if (Table::missing(c, r)) {
        ++m.training_missing;
        continue;
      }
      each_token(*tok, p, t.cell(c, r), [&](const std::string& s) { counts[s]++; });
    }
    std::vector<std::pair<std::string, int64_t>> sorted(counts.begin(), counts.end());
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    if (static_cast<int>(sorted.size()) > p.most_common) sorted.resize(p.most_common);
    if (!f.is_output) {
      m.idx2str.push_back(kUnk);
      m.str2freq.push_back(m.training_missing);
    }
    for (auto& [s, n] : sorted) {
      if (s == kUnk) continue;
      m.idx2str.push_back(s);
      m.str2freq.push_back(n);
    }
    if (m.vocab_size() == (f.is_output ? 0 : 1))
      throw DataError(t.source + ": " + std::string(f.is_output ? "output" : "input") + " feature '" + f.name +
                      "' (column '" + f.column + "') has no tokens in the training split");
    m.index();
    return m;
  }

  torch::Tensor encode(const FeatureConfig& f, const FeatureMetadata& m, const Table& t,
                       const Column& c) const override {
    const auto& p = f.prep<SetPreprocessing>();
    const int64_t n = static_cast<int64_t>(t.num_rows()), V = m.vocab_size();
    auto out = torch::zeros({n, V}, torch::kFloat32);
    float* o = out.data_ptr<float>();
    auto tok = tokenizers().find(p.tokenizer)->make("");
    auto src = missing_sources(t, c, p.missing_value_strategy);
    auto add = [&](int64_t r, const std::string& s) {
      auto it = m.str2idx.find(s);
      int64_t i = it == m.str2idx.end() || (!f.is_output && s == kUnk) ? (f.is_output ? -1 : 0) : it->second;
      if (i < 0) return;  // outputs: a token unseen in training is left out
      if (bag_) o[r * V + i] += 1;
      else o[r * V + i] = 1;
    };
    for (int64_t r = 0; r < n; ++r) {
      if (src[r] >= 0) each_token(*tok, p, t.cell(c, src[r]), [&](const std::string& s) { add(r, s); });
      else each_token(*tok, p, p.fill_value, [&](const std::string& s) { add(r, s); });
    }
    return out;
  }

  void mark_dropped(const FeatureConfig& f, const Table& t, const Column& c,
                    std::vector<uint8_t>& keep) const override {
    if (f.is_output || f.prep<SetPreprocessing>().missing_value_strategy == "drop_row")
      FeatureKind::mark_dropped(f, t, c, keep);
  }

  int64_t output_size(const FeatureConfig&, const FeatureMetadata& m) const override { return m.vocab_size(); }

  // sigmoid_cross_entropy: binary cross-entropy per token, averaged over the vocabulary per row.
  LossResult loss(const FeatureConfig& f, const FeatureMetadata&, const torch::Tensor& logits,
                  const torch::Tensor& target) const override {
    namespace F = torch::nn::functional;
    auto rows = F::binary_cross_entropy_with_logits(
                    logits, target, F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone))
                    .mean(1);
    return {rows.mean() * f.loss.weight, rows.sum().item<double>(), rows.detach()};
  }

  std::unique_ptr<OutputMetrics> metrics(const FeatureConfig& f, const FeatureMetadata&) const override {
    return std::make_unique<SetMetrics>(f.threshold);
  }

  // <name>_predictions: the predicted tokens, space-separated; <name>_probabilities_<token>.
  MetricValues prediction_summary(const FeatureConfig& f, const FeatureMetadata& m,
                                  const torch::Tensor& logits) const override {
    MetricValues out;  // how often each token is predicted (the first 20)
    auto pred = (torch::sigmoid(logits) >= f.threshold).to(torch::kFloat64).mean(0);
    for (int64_t c = 0; c < logits.size(1) && c < 20; ++c)
      out.push_back({"share_" + m.idx2str[c], pred[c].item<double>()});
    return out;
  }
  torch::Tensor row_errors(const FeatureConfig& f, const torch::Tensor& logits,
                           const torch::Tensor& target) const override {  // 1 - Jaccard of the token sets
    auto pred = torch::sigmoid(logits) >= f.threshold, truth = target >= 0.5;
    auto inter = (pred & truth).sum(1).to(torch::kFloat64), uni = (pred | truth).sum(1).to(torch::kFloat64);
    return 1 - torch::where(uni > 0, inter / uni.clamp_min(1), torch::ones_like(uni));
  }

  std::vector<PredictionColumn> predictions(const FeatureConfig& f, const FeatureMetadata& m,
                                            const torch::Tensor& logits) const override {
    auto prob = torch::sigmoid(logits.to(torch::kFloat64)).contiguous();
    const int64_t n = prob.size(0), V = prob.size(1);
    const double* d = prob.data_ptr<double>();
    std::vector<PredictionColumn> cols = {{f.name + "_predictions", {}}};
    for (int64_t v = 0; v < V; ++v) cols.push_back({f.name + "_probabilities_" + m.idx2str[v], {}, true});
    for (int64_t i = 0; i < n; ++i) {
      std::string tokens;
      for (int64_t v = 0; v < V; ++v) {
        if (d[i * V + v] >= f.threshold) tokens += (tokens.empty() ? "" : " ") + m.idx2str[v];
        cols[1 + v].values.push_back(format_double(d[i * V + v]));
      }
      cols[0].values.push_back(tokens);
    }
    return cols;
  }

 private:
  template <class Emit>
  static void each_token(const Tokenizer& tok, const SetPreprocessing& p, std::string_view text, Emit&& emit) {
    std::string lowered;
    if (p.lowercase) text = lowered = to_lower(text);
    tok.tokenize(text, [&](std::string_view s) { emit(std::string(s)); });
  }
  bool bag_;
};

}  // namespace

void register_set_features() {
  FeatureSchema s;
  s.doc = "several tokens per row (space-separated), as a multi-hot vector; output: multi-label";
  s.make_preprocessing = [](bool) { return std::make_shared<SetPreprocessing>(); };
  s.default_encoder = "embed";
  s.default_decoder = "classifier";
  s.default_loss = "sigmoid_cross_entropy";
  s.losses = {"sigmoid_cross_entropy"};
  s.metrics = {"loss", "jaccard"};
  s.default_metric = "jaccard";
  register_feature_type("set", std::move(s), std::make_shared<SetKind>(false));

  FeatureSchema b;
  b.doc = "several tokens per row with repeats, as token counts (input only)";
  b.can_output = false;
  b.make_preprocessing = [](bool) { return std::make_shared<SetPreprocessing>(); };
  b.default_encoder = "embed";
  register_feature_type("bag", std::move(b), std::make_shared<SetKind>(true));
}

}  // namespace kiln
