// Pretrained Hugging Face text encoders (text features): bert, distilbert, and auto_transformer
// (whichever of the two a model's config.json names). One BERT-style network serves both: token +
// position (+ token type) embeddings, post-LayerNorm transformer layers, and BERT's pooler. The
// weights come from a LOCAL model directory (hf/pretrained.h) when training starts; the tokenizer
// and vocabulary are the model's own (the feature's preprocessing is fixed to hf_tokenizer), and
// the architecture is the model's config.json, kept in the feature metadata so a saved model
// rebuilds without the directory.
#include <rapidjson/document.h>
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <limits>

#include "config/schema.h"
#include "encoders/encoders.h"
#include "features/feature.h"
#include "hf/pretrained.h"
#include "model/components.h"
#include "util/error.h"

namespace kiln {
namespace {

#define KILN_ARCH " (use_pretrained: false; else the model's config.json)"

// What the network is built from: BERT's config.json names (DistilBERT's are read into them).
struct Architecture {
  std::string model_type = "bert";
  int vocab_size = 30522, hidden_size = 768, num_layers = 12, num_heads = 12, intermediate_size = 3072;
  int max_position_embeddings = 512, type_vocab_size = 2;
  double hidden_dropout = 0.1, attention_dropout = 0.1, layer_norm_eps = 1e-12, initializer_range = 0.02;
  std::string activation = "gelu";
  bool sinusoidal_positions = false;  // DistilBERT's sinusoidal_pos_embds (fixed, not learned)
  bool pooler = true;
};

const std::vector<std::string>& activations() {
  static const std::vector<std::string> a = {"gelu", "gelu_new", "relu", "silu", "tanh"};
  return a;
}

// Fields every pretrained text encoder has (Ludwig's HFEncoderConfig).
struct PretrainedFields {
  std::string pretrained_model_name_or_path;
  bool use_pretrained = true;
  bool trainable = false;
  std::string reduce_output = "sum";
  std::optional<int> max_sequence_length;
  template <class V>
  void visit_pretrained(V& v) {
    v("pretrained_model_name_or_path", pretrained_model_name_or_path,
      "the pretrained model: a local directory (config.json, model.safetensors, vocab.txt), or a name "
      "in the Hugging Face cache; Kiln never downloads");
    v("use_pretrained", use_pretrained,
      "start from the pretrained weights (false: the architecture below, randomly initialized; the "
      "tokenizer is still the model's)");
    v("trainable", trainable, "fine-tune the pretrained weights (false: frozen)");
    v("reduce_output", reduce_output,
      "how the token states become one vector: cls_pooled (BERT's pooler over [CLS]), or a reduction over the "
      "tokens between [CLS] and [SEP]",
      one_of_names([] {
        auto m = reduce_modes();
        m.insert(m.begin(), "cls_pooled");
        return m;
      }));
    v("max_sequence_length", max_sequence_length,
      "accepted for Ludwig configs: the length is the feature's preprocessing.max_sequence_length", at_least(1));
  }
};

struct BertOptions : Options<BertOptions>, PretrainedFields {
  Architecture a;
  int pad_token_id = 0;
  std::string position_embedding_type = "absolute";
  BertOptions() { pretrained_model_name_or_path = "bert-base-uncased", reduce_output = "cls_pooled"; }
  template <class V>
  void visit(V& v) {
    visit_pretrained(v);
    v("vocab_size", a.vocab_size, "rows of the token embedding" KILN_ARCH, at_least(1));
    v("hidden_size", a.hidden_size, "width of every layer" KILN_ARCH, at_least(1));
    v("num_hidden_layers", a.num_layers, "transformer layers" KILN_ARCH, at_least(1));
    v("num_attention_heads", a.num_heads, "attention heads per layer" KILN_ARCH, at_least(1));
    v("intermediate_size", a.intermediate_size, "width of the feed-forward layer" KILN_ARCH, at_least(1));
    v("hidden_act", a.activation, "feed-forward activation" KILN_ARCH, one_of_names(activations));
    v("hidden_dropout_prob", a.hidden_dropout, "dropout of the embeddings and layers" KILN_ARCH,
      in_range(0, 1, false, true));
    v("attention_probs_dropout_prob", a.attention_dropout, "dropout of the attention weights" KILN_ARCH,
      in_range(0, 1, false, true));
    v("max_position_embeddings", a.max_position_embeddings, "longest sequence" KILN_ARCH, at_least(1));
    v("type_vocab_size", a.type_vocab_size, "token types (every token is type 0)" KILN_ARCH, at_least(1));
    v("initializer_range", a.initializer_range, "std of the random initial weights" KILN_ARCH, at_least(0));
    v("layer_norm_eps", a.layer_norm_eps, "LayerNorm epsilon" KILN_ARCH, above(0));
    v("pad_token_id", pad_token_id, "index of the padding token (Kiln pads with index 0)", one_of_numbers({0}));
    v("position_embedding_type", position_embedding_type, "learned absolute positions", one_of({"absolute"}));
  }
  std::vector<std::string> problems() const override {
    if (a.hidden_size % a.num_heads)
      return {"num_attention_heads: " + std::to_string(a.num_heads) + " does not divide hidden_size " +
              std::to_string(a.hidden_size)};
    return {};
  }
};

struct DistilBertOptions : Options<DistilBertOptions>, PretrainedFields {
  Architecture a;
  DistilBertOptions() {
    pretrained_model_name_or_path = "distilbert-base-uncased";
    a.model_type = "distilbert", a.num_layers = 6, a.type_vocab_size = 0, a.pooler = false;
  }
  template <class V>
  void visit(V& v) {
    visit_pretrained(v);
    v("vocab_size", a.vocab_size, "rows of the token embedding" KILN_ARCH, at_least(1));
    v("dim", a.hidden_size, "width of every layer" KILN_ARCH, at_least(1));
    v("n_layers", a.num_layers, "transformer layers" KILN_ARCH, at_least(1));
    v("n_heads", a.num_heads, "attention heads per layer" KILN_ARCH, at_least(1));
    v("hidden_dim", a.intermediate_size, "width of the feed-forward layer" KILN_ARCH, at_least(1));
    v("activation", a.activation, "feed-forward activation" KILN_ARCH, one_of_names(activations));
    v("dropout", a.hidden_dropout, "dropout of the embeddings and layers" KILN_ARCH, in_range(0, 1, false, true));
    v("attention_dropout", a.attention_dropout, "dropout of the attention weights" KILN_ARCH,
      in_range(0, 1, false, true));
    v("max_position_embeddings", a.max_position_embeddings, "longest sequence" KILN_ARCH, at_least(1));
    v("sinusoidal_pos_embds", a.sinusoidal_positions, "fixed sinusoidal positions" KILN_ARCH);
    v("initializer_range", a.initializer_range, "std of the random initial weights" KILN_ARCH, at_least(0));
  }
  std::vector<std::string> problems() const override {
    if (a.hidden_size % a.num_heads)
      return {"n_heads: " + std::to_string(a.num_heads) + " does not divide dim " + std::to_string(a.hidden_size)};
    return {};
  }
};

struct AutoTransformerOptions : Options<AutoTransformerOptions>, PretrainedFields {
  std::optional<int> vocab_size;
  template <class V>
  void visit(V& v) {
    visit_pretrained(v);
    v("vocab_size", vocab_size, "accepted for Ludwig configs: the vocabulary is the pretrained tokenizer's", at_least(1));
  }
  std::vector<std::string> problems() const override {
    if (pretrained_model_name_or_path.empty())
      return {"pretrained_model_name_or_path: auto_transformer needs the pretrained model (a directory or a cached name)"};
    return {};
  }
};

int json_int(const rapidjson::Value& d, const char* key, int fallback) {
  return d.HasMember(key) && d[key].IsInt() ? d[key].GetInt() : fallback;
}
double json_double(const rapidjson::Value& d, const char* key, double fallback) {
  return d.HasMember(key) && d[key].IsNumber() ? d[key].GetDouble() : fallback;
}
std::string json_str(const rapidjson::Value& d, const char* key, const std::string& fallback) {
  return d.HasMember(key) && d[key].IsString() ? d[key].GetString() : fallback;
}

// The architecture a config.json describes; `who` names the feature in errors.
Architecture read_architecture(const std::string& config_json, const std::string& who) {
  rapidjson::Document d;
  d.Parse(config_json.data(), config_json.size());
  if (d.HasParseError() || !d.IsObject())
    throw ModelError(who + ": the pretrained model's config.json is not a JSON object");
  Architecture a;
  a.model_type = json_str(d, "model_type", "");
  if (a.model_type == "bert") {
    a.vocab_size = json_int(d, "vocab_size", a.vocab_size);
    a.hidden_size = json_int(d, "hidden_size", a.hidden_size);
    a.num_layers = json_int(d, "num_hidden_layers", a.num_layers);
    a.num_heads = json_int(d, "num_attention_heads", a.num_heads);
    a.intermediate_size = json_int(d, "intermediate_size", a.intermediate_size);
    a.max_position_embeddings = json_int(d, "max_position_embeddings", a.max_position_embeddings);
    a.type_vocab_size = json_int(d, "type_vocab_size", a.type_vocab_size);
    a.hidden_dropout = json_double(d, "hidden_dropout_prob", a.hidden_dropout);
    a.attention_dropout = json_double(d, "attention_probs_dropout_prob", a.attention_dropout);
    a.layer_norm_eps = json_double(d, "layer_norm_eps", a.layer_norm_eps);
    a.initializer_range = json_double(d, "initializer_range", a.initializer_range);
    a.activation = json_str(d, "hidden_act", a.activation);
    const std::string pos = json_str(d, "position_embedding_type", "absolute");
    if (pos != "absolute")
      throw ModelError(who + ": the pretrained model's position_embedding_type is '" + pos + "'; Kiln builds absolute positions only");
  } else if (a.model_type == "distilbert") {
    a.vocab_size = json_int(d, "vocab_size", a.vocab_size);
    a.hidden_size = json_int(d, "dim", a.hidden_size);
    a.num_layers = json_int(d, "n_layers", 6);
    a.num_heads = json_int(d, "n_heads", a.num_heads);
    a.intermediate_size = json_int(d, "hidden_dim", a.intermediate_size);
    a.max_position_embeddings = json_int(d, "max_position_embeddings", a.max_position_embeddings);
    a.hidden_dropout = json_double(d, "dropout", a.hidden_dropout);
    a.attention_dropout = json_double(d, "attention_dropout", a.attention_dropout);
    a.initializer_range = json_double(d, "initializer_range", a.initializer_range);
    a.activation = json_str(d, "activation", a.activation);
    a.sinusoidal_positions = d.HasMember("sinusoidal_pos_embds") && d["sinusoidal_pos_embds"].IsBool() &&
                             d["sinusoidal_pos_embds"].GetBool();
    a.type_vocab_size = 0, a.pooler = false;
  } else {
    throw ModelError(who + ": the pretrained model is a '" + a.model_type +
                     "' (config.json model_type), which Kiln does not build; Kiln's pretrained text encoders read "
                     "bert and distilbert models");
  }
  bool known = false;
  for (const auto& n : activations()) known = known || n == a.activation;
  if (!known) throw ModelError(who + ": the pretrained model's activation '" + a.activation + "' is not built in");
  if (a.num_heads <= 0 || a.hidden_size % a.num_heads)
    throw ModelError(who + ": the pretrained model's attention heads do not divide its hidden size");
  return a;
}

torch::Tensor act(const torch::Tensor& x, const std::string& name) {
  if (name == "gelu") return torch::gelu(x);
  if (name == "gelu_new") return torch::gelu(x, "tanh");
  if (name == "relu") return torch::relu(x);
  if (name == "silu") return torch::silu(x);
  return torch::tanh(x);
}

struct LayerImpl : torch::nn::Module {
  LayerImpl(const Architecture& a) : a_(a) {
    auto lin = [&](const char* n, int64_t i, int64_t o) { return register_module(n, torch::nn::Linear(i, o)); };
    auto norm = [&](const char* n) {
      return register_module(n, torch::nn::LayerNorm(torch::nn::LayerNormOptions({a.hidden_size}).eps(a.layer_norm_eps)));
    };
    query = lin("query", a.hidden_size, a.hidden_size), key = lin("key", a.hidden_size, a.hidden_size);
    value = lin("value", a.hidden_size, a.hidden_size), attention_out = lin("attention_out", a.hidden_size, a.hidden_size);
    attention_norm = norm("attention_norm");
    intermediate = lin("intermediate", a.hidden_size, a.intermediate_size);
    out = lin("out", a.intermediate_size, a.hidden_size);
    out_norm = norm("out_norm");
  }
  // x [B, T, H]; bias [B, 1, 1, T]: 0 on tokens, the lowest float on padding.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& bias) {
    const int64_t B = x.size(0), T = x.size(1), nh = a_.num_heads, dh = a_.hidden_size / nh;
    auto split = [&](const torch::Tensor& t) { return t.view({B, T, nh, dh}).transpose(1, 2); };
    auto q = split(query->forward(x)), k = split(key->forward(x)), v = split(value->forward(x));
    auto scores = torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(dh)) + bias;
    auto p = torch::dropout(torch::softmax(scores, -1), a_.attention_dropout, is_training());
    auto ctx = torch::matmul(p, v).transpose(1, 2).reshape({B, T, a_.hidden_size});
    auto h = attention_norm->forward(torch::dropout(attention_out->forward(ctx), a_.hidden_dropout, is_training()) + x);
    auto f = out->forward(act(intermediate->forward(h), a_.activation));
    return out_norm->forward(torch::dropout(f, a_.hidden_dropout, is_training()) + h);
  }
  Architecture a_;
  torch::nn::Linear query{nullptr}, key{nullptr}, value{nullptr}, attention_out{nullptr}, intermediate{nullptr}, out{nullptr};
  torch::nn::LayerNorm attention_norm{nullptr}, out_norm{nullptr};
};
TORCH_MODULE(Layer);

struct PretrainedTextEncoder : EncoderBase {
  PretrainedTextEncoder(const Architecture& a, const PretrainedFields& o, const FeatureMetadata& m)
      : a_(a), o_(o), feature_(m.name), steps_(m.sequence_length) {
    const std::string who = "input feature '" + m.name + "'";
    if (m.vocab_size() > a.vocab_size)
      throw ModelError(who + ": the tokenizer's vocabulary has " + std::to_string(m.vocab_size()) +
                       " tokens, more than the model's vocab_size " + std::to_string(a.vocab_size));
    // ConfigErrors: the model layer names the config file and the feature.
    if (steps_ > a.max_position_embeddings)
      throw ConfigError("sequences of " + std::to_string(steps_) + " tokens are longer than the model's " +
                        std::to_string(a.max_position_embeddings) + " positions; lower preprocessing.max_sequence_length");
    if (o.reduce_output != "cls_pooled" && steps_ < 3)
      throw ConfigError("reduce_output " + o.reduce_output + " reads the tokens between [CLS] and [SEP], "
                        "and the sequences have none (sequence_length " + std::to_string(steps_) + ")");
    word = register_module("word_embeddings", torch::nn::Embedding(torch::nn::EmbeddingOptions(a.vocab_size, a.hidden_size).padding_idx(0)));
    position = register_module("position_embeddings", torch::nn::Embedding(a.max_position_embeddings, a.hidden_size));
    if (a.type_vocab_size > 0)
      token_type = register_module("token_type_embeddings", torch::nn::Embedding(a.type_vocab_size, a.hidden_size));
    embedding_norm = register_module(
        "embedding_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({a.hidden_size}).eps(a.layer_norm_eps)));
    for (int i = 0; i < a.num_layers; ++i) layers.push_back(register_module("layer" + std::to_string(i), Layer(a)));
    if (a.pooler) pooler = register_module("pooler", torch::nn::Linear(a.hidden_size, a.hidden_size));
    if (o.reduce_output != "cls_pooled")
      reducer = register_module("reduce", SequenceReducer(o.reduce_output, a.hidden_size));
    init_random();
    if (!o.trainable)
      for (auto& item : named_parameters())
        if (item.key().rfind("reduce.", 0) != 0) item.value().set_requires_grad(false);
  }

  // BERT's initialization (used as it is when use_pretrained is false): N(0, initializer_range)
  // weights, zero biases, unit LayerNorms, a zero padding row; DistilBERT's sinusoidal positions.
  void init_random() {
    torch::NoGradGuard g;
    for (auto& item : named_parameters()) {
      const std::string& name = item.key();
      torch::Tensor& p = item.value();
      if (name.rfind("reduce.", 0) == 0) continue;
      const bool norm = name.find("norm") != std::string::npos;
      if (name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0) p.zero_();
      else if (norm) p.fill_(1.0);
      else p.normal_(0.0, a_.initializer_range);
    }
    word->weight[0].zero_();
    if (a_.sinusoidal_positions) {
      const int64_t n = a_.max_position_embeddings, d = a_.hidden_size;
      auto pos = torch::arange(n, torch::kFloat64).unsqueeze(1);
      auto j = torch::arange(d, torch::kFloat64);
      auto angle = pos / torch::pow(10000.0, 2 * torch::floor(j / 2) / d);
      auto table = torch::where(j.remainder(2).eq(0), torch::sin(angle), torch::cos(angle));
      position->weight.copy_(table.to(torch::kFloat32));
      position->weight.set_requires_grad(false);
    }
  }

  // The Hugging Face name of each of our parameters, as BERT or DistilBERT checkpoints write it
  // (without the "bert." / "distilbert." prefix of task models' checkpoints).
  std::string hf_name(const std::string& ours) const {
    const bool distil = a_.model_type == "distilbert";
    auto split = ours.find('.');
    const std::string head = ours.substr(0, split), tail = ours.substr(split + 1);
    const std::string emb = "embeddings.";
    if (head == "word_embeddings" || head == "position_embeddings" || head == "token_type_embeddings") return emb + ours;
    if (head == "embedding_norm") return emb + "LayerNorm." + tail;
    if (head == "pooler") return "pooler.dense." + tail;
    if (head.rfind("layer", 0) == 0) {
      const std::string i = head.substr(5);
      auto part = tail.find('.');
      const std::string mod = tail.substr(0, part), p = tail.substr(part + 1);
      if (distil) {
        static const std::map<std::string, std::string> d = {
            {"query", "attention.q_lin"}, {"key", "attention.k_lin"}, {"value", "attention.v_lin"},
            {"attention_out", "attention.out_lin"}, {"attention_norm", "sa_layer_norm"}, {"intermediate", "ffn.lin1"},
            {"out", "ffn.lin2"}, {"out_norm", "output_layer_norm"}};
        return "transformer.layer." + i + "." + d.at(mod) + "." + p;
      }
      static const std::map<std::string, std::string> b = {
          {"query", "attention.self.query"}, {"key", "attention.self.key"}, {"value", "attention.self.value"},
          {"attention_out", "attention.output.dense"}, {"attention_norm", "attention.output.LayerNorm"},
          {"intermediate", "intermediate.dense"}, {"out", "output.dense"}, {"out_norm", "output.LayerNorm"}};
      return "encoder.layer." + i + "." + b.at(mod) + "." + p;
    }
    return "";
  }

  void init_pretrained() override {
    if (!o_.use_pretrained) return;
    const std::string who = "input feature '" + feature_ + "' (encoder " + a_.model_type + ")";
    const std::string dir = find_pretrained_dir(o_.pretrained_model_name_or_path, who);
    auto weights = read_pretrained_weights(dir);
    auto find = [&](const std::string& name) -> const torch::Tensor* {
      for (const char* prefix : {"", "bert.", "distilbert.", "model."}) {
        auto it = weights.find(prefix + name);
        if (it != weights.end()) return &it->second;
      }
      return nullptr;
    };
    torch::NoGradGuard g;
    for (auto& item : named_parameters()) {
      const std::string& name = item.key();
      torch::Tensor& p = item.value();
      const std::string hf = hf_name(name);
      if (hf.empty()) continue;  // ours alone (the attention reducer)
      const torch::Tensor* w = find(hf);
      if (!w) {
        if (a_.sinusoidal_positions && name.rfind("position_embeddings", 0) == 0) continue;
        throw ModelError(dir + ": the pretrained weights lack '" + hf + "' (needed by " + who + ")");
      }
      if (w->sizes() != p.sizes()) {
        // A vocabulary larger than the tokenizer's is fine when the checkpoint's is the model's.
        throw ModelError(dir + ": pretrained weight '" + hf + "' has shape " + shape_text(*w) + ", the model's config.json says " +
                         shape_text(p));
      }
      p.copy_(*w);
    }
  }

  static std::string shape_text(const torch::Tensor& t) {
    std::string s = "[";
    for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
    return s + "]";
  }

  torch::Tensor states(const torch::Tensor& ids, const torch::Tensor& real) {
    const int64_t T = ids.size(1);
    auto pos = torch::arange(T, ids.options().dtype(torch::kLong));
    auto x = word->forward(ids) + position->forward(pos).unsqueeze(0);
    if (token_type) x = x + token_type->weight[0];  // every token is type 0
    x = torch::dropout(embedding_norm->forward(x), a_.hidden_dropout, is_training());
    auto bias = torch::zeros({ids.size(0), 1, 1, T}, x.options())
                    .masked_fill(real.logical_not().view({ids.size(0), 1, 1, T}), std::numeric_limits<float>::lowest());
    for (auto& l : layers) x = l->forward(x, bias);
    return x;
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    auto ids = x.to(torch::kLong);
    auto real = ids.ne(0);
    auto h = states(ids, real);
    if (o_.reduce_output == "cls_pooled") {
      auto cls = h.select(1, 0);
      return pooler ? torch::tanh(pooler->forward(cls)) : cls;
    }
    // The tokens between [CLS] and the final [SEP]: positions 1 .. length-2.
    auto inner = h.slice(1, 1, h.size(1) - 1);
    auto len = real.sum(1, true);
    auto j = torch::arange(1, h.size(1) - 1, ids.options().dtype(torch::kLong)).unsqueeze(0);
    auto mask = j.lt(len - 1);
    if (o_.reduce_output == "none") return inner * mask.unsqueeze(2).to(inner.dtype());
    return reducer->forward(inner, mask);
  }
  int64_t output_size() const override {  // none and concat: every inner token's state
    return o_.reduce_output == "none" || o_.reduce_output == "concat" ? (steps_ - 2) * a_.hidden_size : a_.hidden_size;
  }
  int64_t output_steps() const override { return o_.reduce_output == "none" ? steps_ - 2 : 0; }

  Architecture a_;
  PretrainedFields o_;
  std::string feature_;
  int64_t steps_;
  torch::nn::Embedding word{nullptr}, position{nullptr}, token_type{nullptr};
  torch::nn::LayerNorm embedding_norm{nullptr};
  std::vector<Layer> layers;
  torch::nn::Linear pooler{nullptr};
  SequenceReducer reducer{nullptr};
};

// The architecture: the model's config.json (kept in the metadata) when pretrained weights are
// used, else the options'.
std::shared_ptr<EncoderBase> build(const Architecture& own, const PretrainedFields& o, const FeatureMetadata& m,
                                   const std::string& type) {
  const std::string who = "input feature '" + m.name + "' (encoder " + type + ")";
  Architecture a = own;
  if (o.use_pretrained || type == "auto_transformer") {
    if (m.pretrained_config.empty())
      throw ModelError(who + ": the pretrained model's directory had no config.json (its architecture)");
    a = read_architecture(m.pretrained_config, who);
    if (type != "auto_transformer" && a.model_type != own.model_type)
      throw ModelError(who + ": the pretrained model is a '" + a.model_type + "', not a " + own.model_type +
                       " (use encoder " + a.model_type + " or auto_transformer)");
  }
  return std::make_shared<PretrainedTextEncoder>(a, o, m);
}

YAML::Node fixed_preprocessing(const PretrainedFields& o) {
  YAML::Node n(YAML::NodeType::Map);
  n["tokenizer"] = "hf_tokenizer";
  n["pretrained_model_name_or_path"] = o.pretrained_model_name_or_path;
  return n;
}

template <class O>
void register_one(const std::string& name, const std::string& doc) {
  ComponentSchema s{doc, {"text"}, [] { return std::make_shared<O>(); }};
  s.fixed_preprocessing = [](const OptionsBase& o) { return fixed_preprocessing(dynamic_cast<const O&>(o)); };
  register_encoder("text/" + name, std::move(s), [name](const OptionsBase& o, const FeatureMetadata& m) {
    const auto& opts = dynamic_cast<const O&>(o);
    if constexpr (std::is_same_v<O, AutoTransformerOptions>) {
      return build(Architecture(), opts, m, name);
    } else {
      return build(opts.a, opts, m, name);
    }
  });
}

}  // namespace

void register_pretrained_encoders() {
  register_one<BertOptions>("bert", "BERT from a local pretrained model (Hugging Face layout, safetensors weights)");
  register_one<DistilBertOptions>("distilbert", "DistilBERT from a local pretrained model (Hugging Face layout, safetensors weights)");
  register_one<AutoTransformerOptions>(
      "auto_transformer", "the BERT or DistilBERT model a local pretrained model's config.json names");
}

}  // namespace kiln
