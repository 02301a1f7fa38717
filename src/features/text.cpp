// text and sequence: each row is tokenized (features/tokenizers.h) and mapped to indices into a
// vocabulary built from the TRAINING split, then truncated or padded to one length:
// sequence_length if set, else the longest training row capped at max_sequence_length.
// Index 0 is <PAD>, 1 <UNK> (unseen tokens), 2 <SOS>, 3 <EOS>; the vocabulary follows, most
// frequent first. text and sequence differ only in their defaults (tokenizer, lowercase,
// encoder), as in Ludwig.
#include <rapidjson/document.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include "config/schema.h"
#include "data/synthesize.h"
#include "features/feature.h"
#include "features/tokenizers.h"
#include "hf/pretrained.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/strings.h"

namespace kiln {
namespace {

constexpr int64_t kPad = 0, kUnk = 1, kSos = 2, kEos = 3, kSpecials = 4;

struct TextPreprocessing : Options<TextPreprocessing> {
  std::string tokenizer = "space_punct";
  bool lowercase = true;
  int most_common = 20000;
  int max_sequence_length = 256;
  std::optional<int> sequence_length;
  std::string padding = "right";
  std::string padding_symbol = "<PAD>";
  std::string unknown_symbol = "<UNK>";
  std::string missing_value_strategy = "fill_with_const";
  std::string fill_value = "<UNK>";
  bool compute_idf = false;
  int vocab_size = 8000;
  std::string sentencepiece_model_type = "unigram";
  std::string pretrained_model_name_or_path;
  template <class V>
  void visit(V& v) {
    v("tokenizer", tokenizer, "how text splits into tokens", one_of_names([] { return tokenizers().names(); }, "tokenizer"));
    v("lowercase", lowercase, "lower-case (ASCII) before tokenizing");
    v("most_common", most_common, "maximum vocabulary size (most frequent training tokens)", at_least(1));
    v("max_sequence_length", max_sequence_length,
      "longest sequence kept; longer rows are truncated (with a warning)", at_least(1));
    v("sequence_length", sequence_length, "fixed length of every row (default: the longest "
                                          "training row, at most max_sequence_length)", at_least(1));
    v("padding", padding, "where padding goes", one_of({"right", "left"}));
    v("padding_symbol", padding_symbol, "name of the padding token in the vocabulary");
    v("unknown_symbol", unknown_symbol, "name of the unknown token in the vocabulary");
    v("missing_value_strategy", missing_value_strategy, "how missing values are filled",
      one_of({"fill_with_const", "bfill", "ffill", "drop_row"}));
    v("fill_value", fill_value, "fill_with_const: the text used for missing values");
    v("compute_idf", compute_idf,
      "accepted for Ludwig configs; inverse document frequencies are always computed");
    v("vocab_size", vocab_size, "sentencepiece: size of the trained vocabulary", at_least(8));
    v("sentencepiece_model_type", sentencepiece_model_type, "sentencepiece: the model trained",
      one_of({"unigram", "bpe"}));
    v("pretrained_model_name_or_path", pretrained_model_name_or_path,
      "hf_tokenizer: the pretrained model whose tokenizer and vocabulary are used (a local directory, "
      "or a name in the Hugging Face cache; set from a pretrained encoder's own)");
  }
  std::vector<std::string> problems() const override {
    if (tokenizers().find(tokenizer) && tokenizers().find(tokenizer)->pretrained && pretrained_model_name_or_path.empty())
      return {"pretrained_model_name_or_path: tokenizer " + tokenizer + " needs the pretrained model it comes from"};
    return {};
  }
};

// The row's text as the tokenizer sees it (lower-cased if asked).
struct RowText {
  const TextPreprocessing& p;
  std::string buf;
  bool own_case = false;  // a pretrained tokenizer lower-cases (or not) as its model was trained
  std::string_view get(std::string_view raw) {
    if (!p.lowercase || own_case) return raw;
    buf = to_lower(raw);
    return buf;
  }
};

std::unique_ptr<Tokenizer> make_tokenizer(const TextPreprocessing& p, const FeatureMetadata& m) {
  return tokenizers().find(p.tokenizer)->make(m.tokenizer_model);
}

// Generator targets end with <EOS>; a tagger's have one label per input token and no end mark.
bool ends_with_eos(const FeatureConfig& f) { return f.is_output && f.decoder.type != "tagger"; }

std::string feature_where(const FeatureConfig& f, const Table& t) {
  return t.source + ": " + (f.is_output ? "output" : "input") + " feature '" + f.name +
         "' (column '" + f.column + "')";
}

// Text / sequence outputs: token accuracy over the target tokens (padding left out, <EOS>
// included), sequence accuracy (every token right), perplexity (exp of the mean token
// cross-entropy).
class SequenceMetrics : public OutputMetrics {
 public:
  PreparedBatch prepare(const torch::Tensor& logits, const torch::Tensor& target,
                        const torch::Tensor& row_losses) const override {
    PreparedBatch p;
    auto l = logits.detach().to(torch::kFloat32);
    auto y = target.detach();
    auto real = y.ne(kPad);
    auto right = l.argmax(2).eq(y).logical_and(real);
    auto logp = torch::log_softmax(l, 2).gather(2, y.unsqueeze(2)).squeeze(2);
    p.a = real.sum(1).contiguous();
    p.b = right.sum(1).contiguous();
    p.c = (-(logp * real.to(logp.dtype())).sum(1)).to(torch::kFloat64).contiguous();
    p.loss = row_losses.detach().reshape({-1}).to(torch::kFloat64).contiguous();
    p.rows = p.a.size(0);
    return p;
  }
  void add(const PreparedBatch& p, const bool* mask) override {
    const int64_t* tokens = p.a.data_ptr<int64_t>();
    const int64_t* right = p.b.data_ptr<int64_t>();
    const double* ce = p.c.data_ptr<double>();
    const double* l = p.loss.data_ptr<double>();
    for (int64_t i = 0; i < p.rows; ++i) {
      if (mask && !mask[i]) continue;
      ++n_, tokens_ += tokens[i], right_ += right[i], whole_ += right[i] == tokens[i], ce_ += ce[i], loss_ += l[i];
    }
  }
  void merge(const OutputMetrics& other) override {
    const auto& o = dynamic_cast<const SequenceMetrics&>(other);
    n_ += o.n_, tokens_ += o.tokens_, right_ += o.right_, whole_ += o.whole_, ce_ += o.ce_, loss_ += o.loss_;
  }
  MetricValues values() const override {
    const double n = std::max<int64_t>(1, n_), t = std::max<int64_t>(1, tokens_);
    return {{"loss", loss_ / n},
            {"token_accuracy", right_ / t},
            {"sequence_accuracy", whole_ / n},
            {"perplexity", std::exp(ce_ / t)}};
  }
  std::unique_ptr<OutputMetrics> empty_copy() const override { return std::make_unique<SequenceMetrics>(); }
  int64_t count() const override { return n_; }
  int64_t correct() const override { return whole_; }

 private:
  int64_t n_ = 0, tokens_ = 0, right_ = 0, whole_ = 0;
  double ce_ = 0, loss_ = 0;
};

class TextKind : public FeatureKind, public OutputKind {
 public:
  std::string synthesize(const FeatureConfig& f, Synthesis& s, int64_t) const override {
    return s.tokens(3 + s.pick(10), f.prep<TextPreprocessing>().tokenizer, false);
  }
  unsigned metadata_fields() const override { return metadata_fields::vocabulary | metadata_fields::sequence; }
  const OutputKind* output() const override { return this; }
  explicit TextKind(std::string type) : type_(std::move(type)) {}

  FeatureMetadata fit(const FeatureConfig& f, const Table& t, const Column& c,
                      const std::vector<int64_t>& rows) const override {
    const auto& p = f.prep<TextPreprocessing>();
    FeatureMetadata m;
    m.name = f.name, m.type = type_;
    m.training_rows = static_cast<int64_t>(rows.size());
    RowText text{p, {}};
    const TokenizerSpec& spec = *tokenizers().find(p.tokenizer);
    if (spec.pretrained) {
      if (f.is_output)
        throw ConfigError(feature_where(f, t) + ": tokenizer " + p.tokenizer + " is for input features");
      TokenizerTraining tt;
      tt.pretrained_dir = find_pretrained_dir(p.pretrained_model_name_or_path, feature_where(f, t));
      m.tokenizer_model = spec.train({}, tt);
      const std::string cfg = path_join(tt.pretrained_dir, "config.json");
      if (file_exists(cfg)) m.pretrained_config = read_file(cfg);
      text.own_case = true;
    } else if (spec.train) {
      std::vector<std::string> lowered;
      std::vector<std::string_view> texts;
      for (int64_t r : rows) {
        if (Table::missing(c, r)) continue;
        if (p.lowercase) {
          lowered.push_back(to_lower(t.cell(c, r)));
        } else {
          texts.push_back(t.cell(c, r));
        }
      }
      for (const auto& s : lowered) texts.push_back(s);
      if (texts.empty())
        throw DataError(feature_where(f, t) + ": no text in the training split to train the "
                                              "sentencepiece tokenizer on");
      TokenizerTraining tt;
      tt.vocab_size = p.vocab_size;
      tt.model_type = p.sentencepiece_model_type;
      try {
        m.tokenizer_model = spec.train(texts, tt);
      } catch (const DataError& e) {
        throw DataError(feature_where(f, t) + ": " + e.what());
      }
    }
    auto tok = spec.make(m.tokenizer_model);
    std::unordered_map<std::string, int64_t> counts, docs;
    std::unordered_set<std::string> seen;
    int64_t longest = 0;
    for (int64_t r : rows) {
      if (Table::missing(c, r)) {
        ++m.training_missing;
        continue;
      }
      int64_t n = 0;
      seen.clear();
      tok->tokenize(text.get(t.cell(c, r)), [&](std::string_view s) {
        ++n;
        auto it = counts.find(std::string(s));
        if (it == counts.end()) it = counts.emplace(std::string(s), 0).first;
        ++it->second;
        seen.emplace(s);
      });
      for (const auto& s : seen) ++docs[s];
      longest = std::max(longest, n);
    }
    const int64_t wrap = !tok->begin_token().empty() + !tok->end_token().empty();
    if (const auto* vocab = tok->vocabulary()) {  // the pretrained model's, in its order
      m.idx2str = *vocab;
      m.index();
      m.str2freq.assign(m.idx2str.size(), 0);
      for (const auto& [s, n] : counts) m.str2freq[static_cast<size_t>(m.str2idx.at(s))] = n;
      m.idf.assign(m.idx2str.size(), 0.0);
      int64_t cap = p.max_sequence_length;  // and the model's positions, as Ludwig truncates to them
      rapidjson::Document d;
      d.Parse(m.pretrained_config.data(), m.pretrained_config.size());
      if (!d.HasParseError() && d.IsObject() && d.HasMember("max_position_embeddings") && d["max_position_embeddings"].IsInt())
        cap = std::min<int64_t>(cap, d["max_position_embeddings"].GetInt());
      m.sequence_length = p.sequence_length ? *p.sequence_length
                                            : std::max<int64_t>(1, std::min<int64_t>(longest + wrap, cap));
      return m;
    }
    std::vector<std::pair<std::string, int64_t>> sorted(counts.begin(), counts.end());
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    m.idx2str = {p.padding_symbol, p.unknown_symbol, "<SOS>", "<EOS>"};
    m.str2freq = {0, 0, 0, 0};
    for (const auto& [s, n] : sorted) {
      if (static_cast<int64_t>(m.idx2str.size()) - kSpecials >= p.most_common) break;
      if (s == p.padding_symbol || s == p.unknown_symbol || s == "<SOS>" || s == "<EOS>") continue;
      m.idx2str.push_back(s);
      m.str2freq.push_back(n);
    }
    m.index();
    {  // inverse document frequencies (tf_idf encoder; kept in the metadata like Ludwig's str2idf)
      const double n_docs = static_cast<double>(m.training_rows - m.training_missing);
      m.idf.assign(m.idx2str.size(), 0.0);
      for (size_t i = kSpecials; i < m.idx2str.size(); ++i)
        m.idf[i] = std::log((1 + n_docs) / (1 + docs[m.idx2str[i]])) + 1;  // smoothed idf
      m.idf[kUnk] = std::log(1 + n_docs) + 1;
    }
    m.sequence_length = p.sequence_length
                            ? *p.sequence_length
                            : std::max<int64_t>(1, std::min<int64_t>(longest, p.max_sequence_length));
    if (ends_with_eos(f)) m.sequence_length += 1;
    return m;
  }

  torch::Tensor encode(const FeatureConfig& f, const FeatureMetadata& m, const Table& t,
                       const Column& c) const override {
    const auto& p = f.prep<TextPreprocessing>();
    auto tok = make_tokenizer(p, m);
    const int64_t n = static_cast<int64_t>(t.num_rows()), L = m.sequence_length;
    auto out = torch::zeros({n, L}, torch::kInt64);
    int64_t* o = out.data_ptr<int64_t>();
    // The metadata's own index (built once when it was fitted or loaded; a served request of one
    // row must not rebuild a 20,000-word table). The special symbols are not words of the text.
    auto src = missing_sources(t, c, p.missing_value_strategy);
    RowText text{p, {}};
    const bool fixed = tok->vocabulary() != nullptr;  // every token is in it ([UNK] included)
    text.own_case = fixed;
    std::vector<int64_t> ids;
    std::string key;
    int64_t truncated = 0, first_truncated = -1, empty = 0, first_empty = -1;
    auto tokens_of = [&](std::string_view s) {
      ids.clear();
      tok->tokenize(text.get(s), [&](std::string_view w) {
        key.assign(w.data(), w.size());
        auto it = m.str2idx.find(key);
        ids.push_back(it == m.str2idx.end() || (!fixed && it->second < kSpecials) ? kUnk : it->second);
      });
    };
    const std::string_view begin = tok->begin_token(), end = tok->end_token();
    const int64_t begin_id = begin.empty() ? -1 : m.str2idx.at(std::string(begin));
    const int64_t end_id = end.empty() ? -1 : m.str2idx.at(std::string(end));
    for (int64_t r = 0; r < n; ++r) {
      if (src[r] < 0) {
        if (fixed) {  // a pretrained vocabulary has no <UNK> of ours: the fill text, or none
          tokens_of(p.fill_value == p.unknown_symbol ? std::string_view() : std::string_view(p.fill_value));
        } else if (p.fill_value == p.unknown_symbol) {
          ids.assign(1, kUnk);
        } else {
          tokens_of(p.fill_value);
        }
      } else {
        tokens_of(t.cell(c, src[r]));
        if (ids.empty() && src[r] == r && empty++ == 0) first_empty = r;
      }
      if (f.is_output) {  // targets: the tokens, <EOS> (generator), then padding (always on the right)
        const int64_t room = ends_with_eos(f) ? L - 1 : L;
        if (static_cast<int64_t>(ids.size()) > room && truncated++ == 0) first_truncated = r;
        const int64_t k = std::min<int64_t>(room, static_cast<int64_t>(ids.size()));
        std::copy(ids.begin(), ids.begin() + k, o + r * L);
        if (room < L) o[r * L + k] = kEos;
        continue;
      }
      if (begin_id >= 0) ids.insert(ids.begin(), begin_id);
      if (end_id >= 0) ids.push_back(end_id);
      if (static_cast<int64_t>(ids.size()) > L && truncated++ == 0) first_truncated = r;
      if (end_id >= 0 && static_cast<int64_t>(ids.size()) > L) ids[static_cast<size_t>(L - 1)] = end_id;  // [SEP] stays last
      const int64_t k = std::min<int64_t>(L, static_cast<int64_t>(ids.size()));
      int64_t* row = o + r * L + (p.padding == "left" ? L - k : 0);
      std::copy(ids.begin(), ids.begin() + k, row);
    }
    if (truncated)
      warn(feature_where(f, t) + ": " + std::to_string(truncated) + " of " + std::to_string(n) +
           " values are longer than " + std::to_string(L) +
           " tokens (the sequence length) and were truncated; first at " +
           t.where(static_cast<size_t>(first_truncated)));
    if (empty)
      warn(feature_where(f, t) + ": " + std::to_string(empty) + " of " + std::to_string(n) +
           " values have no tokens and are encoded as padding only; first at " +
           t.where(static_cast<size_t>(first_empty)));
    return out;
  }

  void mark_dropped(const FeatureConfig& f, const Table& t, const Column& c,
                    std::vector<uint8_t>& keep) const override {
    if (f.is_output || f.prep<TextPreprocessing>().missing_value_strategy == "drop_row")
      FeatureKind::mark_dropped(f, t, c, keep);
  }

  // Outputs (generator decoder): logits [rows, steps, vocabulary] against targets [rows, steps].
  int64_t output_size(const FeatureConfig&, const FeatureMetadata& m) const override {
    return m.vocab_size();
  }
  // sequence_softmax_cross_entropy: cross-entropy per target token (padding left out), averaged
  // over each row's tokens. A tagger also learns to answer padding where the input has no
  // token, so its predictions end where the input does: every step counts.
  LossResult loss(const FeatureConfig& f, const FeatureMetadata&, const torch::Tensor& logits,
                  const torch::Tensor& target) const override {
    namespace F = torch::nn::functional;
    const bool tagger = !ends_with_eos(f);
    auto ce = F::cross_entropy(logits.flatten(0, 1), target.reshape({-1}),
                               F::CrossEntropyFuncOptions().reduction(torch::kNone).ignore_index(tagger ? -100 : kPad))
                  .view({target.size(0), target.size(1)});
    auto tokens = tagger ? torch::full({target.size(0)}, static_cast<double>(target.size(1)), ce.options())
                         : target.ne(kPad).sum(1).to(ce.dtype()).clamp_min(1);
    auto rows = ce.sum(1) / tokens;
    return {rows.mean() * f.loss.weight, rows.sum().item<double>(), rows.detach()};
  }
  std::unique_ptr<OutputMetrics> metrics(const FeatureConfig&, const FeatureMetadata&) const override {
    return std::make_unique<SequenceMetrics>();
  }
  // <name>_predictions: the decoded tokens up to <EOS> (a tagger's: up to the first padding),
  // space-separated; <name>_probability: the product of the chosen tokens' probabilities.
  MetricValues prediction_summary(const FeatureConfig&, const FeatureMetadata&,
                                  const torch::Tensor& logits) const override {
    auto ids = logits.argmax(2);  // generated length, up to <EOS>
    auto ended = ids.eq(3).to(torch::kLong).cumsum(1).eq(0);
    return {{"mean_length", ended.sum(1).to(torch::kFloat64).mean().item<double>()}};
  }
  torch::Tensor row_errors(const FeatureConfig&, const torch::Tensor& logits,
                           const torch::Tensor& target) const override {  // any target token wrong: 1
    return (logits.argmax(2).eq(target) | target.eq(0)).all(1).logical_not().to(torch::kFloat64);
  }
  bool token_sequence() const override { return true; }

  std::vector<PredictionColumn> predictions(const FeatureConfig& f, const FeatureMetadata& m,
                                            const torch::Tensor& logits) const override {
    auto logp = torch::log_softmax(logits.to(torch::kFloat64), 2);
    auto best = logp.max(2);
    auto ids = std::get<1>(best).contiguous();
    auto lp = std::get<0>(best).contiguous();
    const int64_t n = ids.size(0), T = ids.size(1);
    const bool eos = ends_with_eos(f);
    const int64_t* id = ids.data_ptr<int64_t>();
    const double* l = lp.data_ptr<double>();
    std::vector<PredictionColumn> cols = {{f.name + "_predictions", {}}, {f.name + "_probability", {}, true}};
    for (int64_t i = 0; i < n; ++i) {
      std::string text;
      double sum = 0;
      for (int64_t t = 0; t < T; ++t) {
        sum += l[i * T + t];
        const int64_t k = id[i * T + t];
        if (k == kEos || (k == kPad && !eos)) break;
        if (k == kPad || k == kSos) continue;
        text += (text.empty() ? "" : " ") + m.idx2str[static_cast<size_t>(k)];
      }
      cols[0].values.push_back(text);
      cols[1].values.push_back(format_double(std::exp(sum)));
    }
    return cols;
  }

 private:
  std::string type_;
};

void register_one(const std::string& type, const std::string& doc, const std::string& tokenizer,
                  bool lowercase, const std::string& encoder, const std::string& automl_space) {
  FeatureSchema s;
  s.doc = doc;
  s.automl_space = automl_space;
  s.default_decoder = "generator";
  s.default_loss = "sequence_softmax_cross_entropy";
  s.losses = {"sequence_softmax_cross_entropy"};
  s.metrics = {"loss", "token_accuracy", "sequence_accuracy", "perplexity"};
  s.default_metric = "loss";
  s.make_preprocessing = [tokenizer, lowercase](bool) {
    auto p = std::make_shared<TextPreprocessing>();
    p->tokenizer = tokenizer;
    p->lowercase = lowercase;
    return p;
  };
  s.default_encoder = encoder;
  register_feature_type(type, std::move(s), std::make_shared<TextKind>(type));
}

}  // namespace

void register_text_features() {
  register_one("text", "free text: tokens (space_punct, lower-cased) mapped to a training vocabulary",
               "space_punct", true, "parallel_cnn", "text");
  register_one("sequence", "a sequence of tokens (space-separated by default)", "space", false,
               "embed", "");
}

}  // namespace kiln
