// Sequence encoders of text and sequence features (input: [batch, length] token indices, 0 =
// padding): embed, parallel_cnn, stacked_cnn, stacked_parallel_cnn, rnn, cnnrnn and transformer,
// with Ludwig's parameters and defaults. Each embeds the tokens, transforms the sequence, reduces
// it over time (reduce_output) and applies an optional fully connected stack.
#include <torch/torch.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <map>

#include "config/schema.h"
#include "features/feature.h"
#include "encoders/encoders.h"
#include "model/components.h"
#include "model/masked_reduce.h"

namespace kiln {

const std::vector<std::string>& reduce_modes() {
  static const std::vector<std::string> m = {"sum", "mean", "avg", "max", "last", "concat", "attention", "none"};
  return m;
}

namespace {

// Fields every sequence encoder shares: the token embedding and the reduction over time.
struct EmbedFields {
  int embedding_size = 256;
  std::string representation = "dense";
  bool embeddings_trainable = true;
  double dropout = 0.0;
  // A string, not an optional: null reads as "none" and is written back as "none", so a saved
  // model keeps its steps where the encoder's default would reduce them.
  std::string reduce_output = "none";
  template <class V>
  void visit_embed(V& v) {
    v("embedding_size", embedding_size, "width of the token embedding", at_least(1));
    v("representation", representation, "dense (trainable embedding) | sparse (one-hot)",
      one_of({"dense", "sparse"}));
    v("embeddings_trainable", embeddings_trainable, "train the embedding");
    v("dropout", dropout, "dropout rate", in_range(0, 1, false, true));
    v("reduce_output", reduce_output, "how the sequence is reduced over time (null: keep the steps)",
      one_of_names(reduce_modes));
  }
  std::string reduce() const { return reduce_output; }
};

// The fully connected stack after the reduction: FcStackOptions under these names. The
// convolutional encoders share `dropout` with the embedding (the stack takes it at build time);
// the others have their own fc_dropout.
FcStackKeys conv_fc_keys() {
  FcStackKeys k;
  k.dropout = nullptr;
  return k;
}
FcStackKeys fc_keys() {
  FcStackKeys k;
  k.dropout = "fc_dropout";
  return k;
}
const char* const kFcDoc = "fully connected layers after the reduction ([{output_size: n}])";

struct ConvLayer {
  std::optional<int> filter_size;
  std::optional<int> num_filters;
  std::optional<int> pool_size;
  int dilation_rate = 1;
  std::optional<std::string> activation;  // default: the encoder's activation
  std::optional<double> dropout;          // default: the encoder's dropout
  template <class V>
  void visit(V& v) {
    v("activation", activation, "this layer's activation (default: the encoder's)", one_of_names(activation_names));
    v("dropout", dropout, "this layer's dropout (default: the encoder's)", in_range(0, 1, false, true));
    v("filter_size", filter_size, "kernel width (default: the encoder's filter_size)", at_least(1));
    v("num_filters", num_filters, "output channels (default: the encoder's num_filters)", at_least(1));
    v("pool_size", pool_size, "max-pool width after this layer (null: none)", at_least(1));
    v("dilation_rate", dilation_rate, "dilation of the kernel", at_least(1));
  }
};

struct ConvFields {
  std::vector<ConvLayer> conv_layers;
  std::optional<int> num_conv_layers;
  int filter_size = 3;
  int num_filters = 256;
  std::optional<int> pool_size;
  std::string pool_function = "max";
  template <class V>
  void visit_conv(V& v) {
    v("conv_layers", conv_layers, "convolution layers ([{filter_size, num_filters, pool_size}])");
    v("num_conv_layers", num_conv_layers, "number of convolution layers with the defaults below", at_least(1));
    v("filter_size", filter_size, "default kernel width", at_least(1));
    v("num_filters", num_filters, "default output channels", at_least(1));
    v("pool_size", pool_size, "default pooling width (null: none)", at_least(1));
    v("pool_function", pool_function, "pooling after the convolutions", one_of({"max", "average", "avg", "mean"}));
  }
  void conv_problems(std::vector<std::string>& p) const {
    if (!conv_layers.empty() && num_conv_layers)
      p.push_back("conv_layers: give either conv_layers or num_conv_layers, not both");
  }
  // The layers to build: conv_layers, else num_conv_layers default layers, else `defaults`.
  std::vector<ConvLayer> layers(const std::vector<ConvLayer>& defaults) const {
    std::vector<ConvLayer> out = !conv_layers.empty() ? conv_layers
                                 : num_conv_layers    ? std::vector<ConvLayer>(*num_conv_layers)
                                                      : defaults;
    for (auto& l : out) {
      if (!l.filter_size) l.filter_size = filter_size;
      if (!l.num_filters) l.num_filters = num_filters;
      if (!l.pool_size) l.pool_size = pool_size;
    }
    return out;
  }
};

ConvLayer conv(int filter, std::optional<int> pool = std::nullopt) {
  ConvLayer l;
  l.filter_size = filter;
  l.pool_size = pool;
  return l;
}

// Steps that hold a token (not padding): ids other than 0. A timeseries row ([B, T] floats,
// padded with padding_value as in Ludwig) counts every step.
torch::Tensor real_steps(const torch::Tensor& x) {
  return x.is_floating_point() ? torch::ones({x.size(0), x.size(1)}, x.options().dtype(torch::kBool)) : x.ne(0);
}

// Token embedding: a trainable (or frozen) table whose row 0, the padding, stays zero; or the
// one-hot vectors themselves (representation: sparse). Timeseries values are not embedded: each
// step is its value (width 1), as Ludwig's timeseries encoders do. Steps that arrive embedded
// (the sequence combiner: metadata embedded_steps, width in `channels`) pass through.
class TokenEmbedImpl : public torch::nn::Module {
 public:
  TokenEmbedImpl(const FeatureMetadata& m, const EmbedFields& e)
      : vocab_(m.vocab_size()), dropout_(e.dropout), values_(!m.embedded_steps && feature_kind(m.type).numeric_steps()),
        embedded_(m.embedded_steps) {
    const int64_t vocab = vocab_;
    sparse_ = e.representation == "sparse";
    size_ = embedded_ ? m.channels : values_ ? 1 : sparse_ ? vocab : e.embedding_size;
    if (!sparse_ && !values_ && !embedded_) {
      table = register_module(
          "table", torch::nn::Embedding(torch::nn::EmbeddingOptions(vocab, size_).padding_idx(0)));
      table->weight.set_requires_grad(e.embeddings_trainable);
    }
  }
  torch::Tensor forward(const torch::Tensor& ids) {
    if (embedded_) return ids;
    if (values_) return ids.unsqueeze(2);
    auto h = sparse_ ? torch::one_hot(ids, vocab_).to(torch::kFloat32) : table->forward(ids);
    return dropout_ > 0 ? torch::dropout(h, dropout_, is_training()) : h;
  }
  int64_t size() const { return size_; }
  torch::nn::Embedding table{nullptr};

 private:
  int64_t vocab_, size_;
  bool sparse_;
  double dropout_;
  bool values_, embedded_;
};
TORCH_MODULE(TokenEmbed);

}  // namespace

SequenceReducerImpl::SequenceReducerImpl(std::string mode, int64_t width) : mode_(std::move(mode)) {
  if (mode_ == "attention") {
    hidden = register_module("hidden", torch::nn::Linear(width, kAttentionHidden));
    score = register_module("score", torch::nn::Linear(torch::nn::LinearOptions(kAttentionHidden, 1).bias(false)));
  }
}

torch::Tensor SequenceReducerImpl::forward(const torch::Tensor& h, const torch::Tensor& mask) {
  if (mode_ != "attention") return reduce_steps(h, mode_, mask);
  auto s = score->forward(torch::tanh(hidden->forward(h))).squeeze(-1);  // [B, T]
  const bool masked = mask.defined() && mask.size(1) == h.size(1);
  if (masked) s = s.masked_fill(mask.logical_not(), -1e30);  // finite: a row of padding stays defined
  auto a = torch::softmax(s, 1);
  if (masked) a = a * mask.to(a.dtype());  // no weight on padding (a row without tokens reduces to 0)
  return torch::bmm(a.unsqueeze(1).to(h.dtype()), h).squeeze(1);
}

PreNormBlockImpl::PreNormBlockImpl(int64_t d_model, int64_t heads, int64_t ffn, double dropout) {
  norm1 = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d_model})));
  attn = register_module("attn", torch::nn::MultiheadAttention(
                                     torch::nn::MultiheadAttentionOptions(d_model, heads).dropout(dropout)));
  norm2 = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d_model})));
  ff1 = register_module("ff1", torch::nn::Linear(d_model, ffn));
  ff2 = register_module("ff2", torch::nn::Linear(ffn, d_model));
  drop = register_module("drop", torch::nn::Dropout(dropout));
}

torch::Tensor PreNormBlockImpl::forward(torch::Tensor x, const torch::Tensor& padding) {
  auto h = norm1->forward(x);
  x = x + drop->forward(std::get<0>(attn->forward(h, h, h, padding, false)));
  h = norm2->forward(x);
  return x + drop->forward(ff2->forward(drop->forward(torch::relu(ff1->forward(h)))));
}

torch::Tensor reduce_over_time(const torch::Tensor& h, const std::string& mode) {
  return reduce_steps(h, mode, torch::Tensor());
}

namespace {

// The width the fc stack receives: concat flattens the steps; none keeps them (the stack then
// applies to every step).
int64_t reduced_size(const std::string& mode, int64_t steps, int64_t width) {
  return mode == "concat" ? steps * width : width;
}

// A sequence encoder's output: reduced ([B, H]), or with reduce_output: null the sequence itself
// ([B, T, H]), whose steps the sequence combiners and the tagger decoder need.
struct SequenceEncoder : EncoderBase {
  int64_t output_steps() const override { return steps_; }
  int64_t flat(int64_t width) const { return width * std::max<int64_t>(1, steps_); }
  void keep_steps(const std::string& mode, int64_t steps) { steps_ = mode == "none" ? steps : 0; }
  // The reduction over time of [B, T, width] steps (weights only for attention).
  void reduce_with(const std::string& mode, int64_t width) {
    reducer = register_module("reduce", SequenceReducer(mode, width));
  }
  int64_t steps_ = 0;
  SequenceReducer reducer{nullptr};
};

// Conv1d with "same" padding, activation, dropout and optional max/average pooling, over
// time-major sequences: [B, T, C] -> [B, T', F]. The convolution runs as a 2-D one over the
// [B, C, 1, T] channels-last view of the same memory, the layout oneDNN's kernels work in, so
// nothing is reordered around it and the gradients coming back from the reductions already
// have it. (A channels-first Conv1d spent a quarter of parallel_cnn's training step reordering
// and in a strided ReLU backward.) The weights keep Conv1d's shape and names.
class ConvBlockImpl : public torch::nn::Module {
 public:
  ConvBlockImpl(int64_t in, const ConvLayer& l, const std::string& activation, double dropout,
                const std::string& pool_function)
      : activation_(l.activation.value_or(activation)), dropout_(l.dropout.value_or(dropout)), pool_(l.pool_size.value_or(0)),
        dilation_(l.dilation_rate), average_(pool_function != "max") {
    // "same" padding: half the receptive field on each side; an odd span puts the extra step
    // on the left (the convolution pads `right_` on both sides, the input gets the rest).
    const int64_t span = (*l.filter_size - 1) * l.dilation_rate;
    left_ = (span + 1) / 2, right_ = span - left_;
    conv = register_module(
        "conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(in, *l.num_filters, *l.filter_size)
                                      .dilation(l.dilation_rate)));
  }
  // x: [B, T, C] -> [B, T', F] (T' = ceil(T / pool)).
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = activate(convolve(x), activation_);
    if (dropout_ > 0) h = torch::dropout(h, dropout_, is_training());
    if (pool_ > 1) {
      auto h4 = h.transpose(1, 2).unsqueeze(2);
      h4 = average_ ? torch::avg_pool2d(h4, {1, pool_}, {1, pool_}, {0, 0}, true)
                    : torch::max_pool2d(h4, {1, pool_}, {1, pool_}, {0, 0}, {1, 1}, true);
      h = h4.squeeze(2).transpose(1, 2);
    }
    return h;
  }
  // The block's output reduced over time. A ReLU block without pooling or active dropout, summed
  // or averaged over the real steps (parallel_cnn's default), runs as one fused pass over the
  // convolution's output (model/masked_reduce.h: same values and gradients, a third of the
  // memory traffic); anything else is forward() then reduce_steps().
  torch::Tensor forward_reduced(const torch::Tensor& x, const std::string& mode, const torch::Tensor& mask) {
    const bool fusable = (mode == "sum" || mode == "mean" || mode == "avg") && activation_ == "relu" &&
                         pool_ <= 1 && (dropout_ == 0 || !is_training()) && mask.defined() &&
                         mask.size(1) == x.size(1);
    if (fusable) {
      auto y = convolve(x);
      if (y.scalar_type() == torch::kFloat32) {  // bfloat16 (mixed precision) keeps the general path
        auto s = masked_relu_sum(y, mask);
        if (mode == "sum") return s;
        return s / mask.sum(1, true).to(s.dtype()).clamp_min(1);
      }
    }
    return reduce_steps(forward(x), mode, pool_mask(mask));
  }
  int64_t pooled(int64_t steps) const { return pool_ > 1 ? (steps + pool_ - 1) / pool_ : steps; }
  // The mask [B, T] of real tokens after pooling: a pooled step is real when any input was.
  torch::Tensor pool_mask(const torch::Tensor& mask) const {
    if (pool_ <= 1) return mask;
    return torch::max_pool1d(mask.to(torch::kFloat32).unsqueeze(1), {pool_}, {pool_}, {0}, {1}, true)
        .squeeze(1)
        .gt(0);
  }
  torch::nn::Conv1d conv{nullptr};

 private:
  // The convolution alone: x [B, T, C] -> [B, T, F], before the activation.
  torch::Tensor convolve(const torch::Tensor& x) {
    auto in = left_ > right_ ? torch::constant_pad_nd(x, {0, 0, left_ - right_, 0}) : x;
    const std::array<int64_t, 2> stride{1, 1}, padding{0, right_}, dilation{1, dilation_};
    auto y = torch::conv2d(in.transpose(1, 2).unsqueeze(2), conv->weight.unsqueeze(2), conv->bias,
                           stride, padding, dilation);
    return y.squeeze(2).transpose(1, 2);
  }
  std::string activation_;
  double dropout_;
  int64_t pool_, dilation_, left_ = 0, right_ = 0;
  bool average_;
};
TORCH_MODULE(ConvBlock);

// Parallel convolutions over the same input, concatenated on channels.
class ParallelConvImpl : public torch::nn::Module {
 public:
  ParallelConvImpl(int64_t in, const std::vector<ConvLayer>& layers, const std::string& activation,
                   double dropout, const std::string& pool_function) {
    for (size_t i = 0; i < layers.size(); ++i) {
      blocks_.push_back(register_module("conv" + std::to_string(i),
                                        ConvBlock(in, layers[i], activation, dropout, pool_function)));
      out_ += *layers[i].num_filters;
    }
  }
  torch::Tensor forward(const torch::Tensor& x) {
    std::vector<torch::Tensor> parts;
    for (auto& b : blocks_) parts.push_back(b->forward(x));
    if (parts.size() == 1) return parts[0];
    // Different pool sizes give different lengths: cut to the shortest.
    int64_t t = parts[0].size(1);
    for (auto& p : parts) t = std::min(t, p.size(1));
    for (auto& p : parts) p = p.narrow(1, 0, t);
    return torch::cat(parts, 2);
  }
  // Each branch reduced over time, then concatenated: the same result as reducing the
  // concatenation (for every mode but concat/none), without the [B, T, channels] temporary.
  torch::Tensor forward_reduced(const torch::Tensor& x, const std::string& mode,
                                const torch::Tensor& mask) {
    std::vector<torch::Tensor> parts;
    for (auto& b : blocks_) parts.push_back(b->forward_reduced(x, mode, mask));
    return parts.size() == 1 ? parts[0] : torch::cat(parts, 1);
  }
  int64_t channels() const { return out_; }
  torch::Tensor pool_mask(const torch::Tensor& mask) const {
    torch::Tensor out;
    for (const auto& b : blocks_) {
      auto m = b->pool_mask(mask);
      if (!out.defined() || m.size(1) < out.size(1)) out = m;
    }
    return out;
  }
  int64_t pooled(int64_t steps) const {
    int64_t t = steps;
    for (const auto& b : blocks_) t = std::min(t, b->pooled(steps));
    return t;
  }

 private:
  std::vector<ConvBlock> blocks_;
  int64_t out_ = 0;
};
TORCH_MODULE(ParallelConv);

// ---------------------------------------------------------------------------------------------

struct EmbedOptions : Options<EmbedOptions>, EmbedFields {
  EmbedOptions() { embedding_size = 50, reduce_output = "sum"; }
  template <class V>
  void visit(V& v) {
    visit_embed(v);
  }
};

struct EmbedEncoder : SequenceEncoder {
  EmbedEncoder(const EmbedOptions& o, const FeatureMetadata& m) : mode_(o.reduce()) {
    embed = register_module("embed", TokenEmbed(m, o));
    out_ = reduced_size(mode_, m.sequence_length, embed->size());
    keep_steps(mode_, m.sequence_length);
    reduce_with(mode_, embed->size());
  }
  torch::Tensor forward(const torch::Tensor& ids) override {
    return reducer->forward(embed->forward(ids), real_steps(ids));
  }
  int64_t output_size() const override { return flat(out_); }
  TokenEmbed embed{nullptr};
  std::string mode_;
  int64_t out_;
};

// The options of the convolutional encoders (parallel_cnn, stacked_cnn), which differ only in
// their default reduction; one type each, so each keeps its own schema entry.
template <class Self>
struct CnnOptions : Options<Self>, EmbedFields, ConvFields {
  FcStackOptions fc;
  template <class V>
  void visit(V& v) {
    visit_embed(v);
    visit_conv(v);
    fc.visit_fc_stack(v, kFcDoc, conv_fc_keys());
  }
  std::vector<std::string> problems() const override {
    std::vector<std::string> p;
    conv_problems(p);
    return p;
  }
  // The stack as built: it shares the embedding's dropout.
  FcStackOptions stack() const {
    FcStackOptions s = fc;
    s.dropout = dropout;
    return s;
  }
};

struct ParallelCnnOptions : CnnOptions<ParallelCnnOptions> {
  ParallelCnnOptions() { reduce_output = "sum", fc.num_fc_layers.reset(), fc.default_sizes = {512, 256}; }
};

// parallel_cnn: convolutions of widths 2, 3, 4, 5 side by side, reduced over time, then fully
// connected layers (default 512, 256).
struct ParallelCnnEncoder : SequenceEncoder {
  ParallelCnnEncoder(const ParallelCnnOptions& o, const FeatureMetadata& m) : mode_(o.reduce()) {
    embed = register_module("embed", TokenEmbed(m, o));
    convs = register_module("convs", ParallelConv(embed->size(),
                                                  o.layers({conv(2), conv(3), conv(4), conv(5)}),
                                                  o.fc.activation, o.dropout, o.pool_function));
    int64_t steps = convs->pooled(m.sequence_length);
    fc = register_module("fc", FcStack(reduced_size(mode_, steps, convs->channels()),
                                       o.stack()));
    keep_steps(mode_, steps);
    reduce_with(mode_, convs->channels());
  }
  torch::Tensor forward(const torch::Tensor& ids) override {
    auto x = embed->forward(ids);  // [B, T, E], shared by every branch
    auto mask = real_steps(ids);
    if (mode_ == "concat" || mode_ == "none" || mode_ == "attention")
      return fc->forward(reducer->forward(convs->forward(x), convs->pool_mask(mask)));
    return fc->forward(convs->forward_reduced(x, mode_, mask));
  }
  int64_t output_size() const override { return flat(fc->output_size()); }
  TokenEmbed embed{nullptr};
  ParallelConv convs{nullptr};
  FcStack fc{nullptr};
  std::string mode_;
};

struct StackedCnnOptions : CnnOptions<StackedCnnOptions> {
  StackedCnnOptions() { reduce_output = "max", fc.num_fc_layers.reset(), fc.default_sizes = {512, 512}; }
};

// stacked_cnn: convolutions one after the other (default six: widths 7, 7, 3, 3, 3, 3 with
// pooling 3 after the first, second and last), reduced over time, then fc layers (512, 512).
struct StackedCnnEncoder : SequenceEncoder {
  StackedCnnEncoder(const StackedCnnOptions& o, const FeatureMetadata& m) : mode_(o.reduce()) {
    embed = register_module("embed", TokenEmbed(m, o));
    auto layers = o.layers({conv(7, 3), conv(7, 3), conv(3), conv(3), conv(3), conv(3, 3)});
    int64_t in = embed->size(), steps = m.sequence_length;
    for (size_t i = 0; i < layers.size(); ++i) {
      blocks.push_back(register_module("conv" + std::to_string(i),
                                       ConvBlock(in, layers[i], o.fc.activation, o.dropout,
                                                 o.pool_function)));
      in = *layers[i].num_filters;
      steps = blocks.back()->pooled(steps);
    }
    fc = register_module("fc", FcStack(reduced_size(mode_, steps, in), o.stack()));
    keep_steps(mode_, steps);
    reduce_with(mode_, in);
  }
  torch::Tensor forward(const torch::Tensor& ids) override {
    auto h = embed->forward(ids);
    auto mask = real_steps(ids);
    for (auto& b : blocks) h = b->forward(h), mask = b->pool_mask(mask);
    return fc->forward(reducer->forward(h, mask));
  }
  int64_t output_size() const override { return flat(fc->output_size()); }
  TokenEmbed embed{nullptr};
  std::vector<ConvBlock> blocks;
  FcStack fc{nullptr};
  std::string mode_;
};

struct StackedParallelCnnOptions : Options<StackedParallelCnnOptions>, EmbedFields, ConvFields {
  std::vector<std::vector<ConvLayer>> stacked_layers;
  std::optional<int> num_stacked_layers;
  FcStackOptions fc;
  StackedParallelCnnOptions() { reduce_output = "max", fc.num_fc_layers.reset(), fc.default_sizes = {512, 256}; }
  template <class V>
  void visit(V& v) {
    visit_embed(v);
    v("stacked_layers", stacked_layers, "stacks of parallel convolution layers");
    v("num_stacked_layers", num_stacked_layers, "number of stacks of the default parallel layers", at_least(1));
    v("filter_size", filter_size, "default kernel width", at_least(1));
    v("num_filters", num_filters, "default output channels", at_least(1));
    v("pool_size", pool_size, "default pooling width (null: none)", at_least(1));
    v("pool_function", pool_function, "pooling after the convolutions", one_of({"max", "average", "avg", "mean"}));
    fc.visit_fc_stack(v, kFcDoc, conv_fc_keys());
  }
  std::vector<std::string> problems() const override {
    std::vector<std::string> p;
    if (!stacked_layers.empty() && num_stacked_layers)
      p.push_back("stacked_layers: give either stacked_layers or num_stacked_layers, not both");
    return p;
  }
  FcStackOptions stack() const {
    FcStackOptions s = fc;
    s.dropout = dropout;
    return s;
  }
};

// stacked_parallel_cnn: stacks (default three) of parallel convolutions of widths 2, 3, 4, 5.
struct StackedParallelCnnEncoder : SequenceEncoder {
  StackedParallelCnnEncoder(const StackedParallelCnnOptions& o, const FeatureMetadata& m)
      : mode_(o.reduce()) {
    embed = register_module("embed", TokenEmbed(m, o));
    std::vector<ConvLayer> widths = {conv(2), conv(3), conv(4), conv(5)};
    auto stacks = o.stacked_layers;
    if (stacks.empty()) stacks.assign(o.num_stacked_layers.value_or(3), widths);
    int64_t in = embed->size(), steps = m.sequence_length;
    for (size_t i = 0; i < stacks.size(); ++i) {
      for (auto& l : stacks[i]) {
        if (!l.filter_size) l.filter_size = o.filter_size;
        if (!l.num_filters) l.num_filters = o.num_filters;
        if (!l.pool_size) l.pool_size = o.pool_size;
      }
      stacks_.push_back(register_module(
          "stack" + std::to_string(i),
          ParallelConv(in, stacks[i], o.fc.activation, o.dropout, o.pool_function)));
      in = stacks_.back()->channels();
      steps = stacks_.back()->pooled(steps);
    }
    fc = register_module("fc", FcStack(reduced_size(mode_, steps, in), o.stack()));
    keep_steps(mode_, steps);
    reduce_with(mode_, in);
  }
  torch::Tensor forward(const torch::Tensor& ids) override {
    auto h = embed->forward(ids);
    auto mask = real_steps(ids);
    for (auto& s : stacks_) h = s->forward(h), mask = s->pool_mask(mask);
    return fc->forward(reducer->forward(h, mask));
  }
  int64_t output_size() const override { return flat(fc->output_size()); }
  TokenEmbed embed{nullptr};
  std::vector<ParallelConv> stacks_;
  FcStack fc{nullptr};
  std::string mode_;
};

// Recurrent layers shared by rnn and cnnrnn.
struct RnnFields {
  int state_size = 256;
  std::string cell_type = "rnn";
  bool bidirectional = false;
  double recurrent_dropout = 0.0;
  template <class V>
  void visit_rnn(V& v, const char* layers_key, int& layers) {
    v(layers_key, layers, "number of stacked recurrent layers", at_least(1));
    v("state_size", state_size, "hidden state width", at_least(1));
    v("cell_type", cell_type, "recurrent cell", one_of({"rnn", "lstm", "gru"}));
    v("bidirectional", bidirectional, "also run the sequence backwards (doubles the width)");
    v("recurrent_dropout", recurrent_dropout, "dropout between recurrent layers", in_range(0, 1, false, true));
  }
};

class RecurrentImpl : public torch::nn::Module {
 public:
  RecurrentImpl(int64_t in, const RnnFields& r, int layers) : kind_(r.cell_type) {
    const double drop = layers > 1 ? r.recurrent_dropout : 0.0;
    if (kind_ == "lstm")
      lstm = register_module("lstm", torch::nn::LSTM(torch::nn::LSTMOptions(in, r.state_size)
                                                         .num_layers(layers)
                                                         .batch_first(true)
                                                         .bidirectional(r.bidirectional)
                                                         .dropout(drop)));
    else if (kind_ == "gru")
      gru = register_module("gru", torch::nn::GRU(torch::nn::GRUOptions(in, r.state_size)
                                                      .num_layers(layers)
                                                      .batch_first(true)
                                                      .bidirectional(r.bidirectional)
                                                      .dropout(drop)));
    else
      rnn = register_module("rnn", torch::nn::RNN(torch::nn::RNNOptions(in, r.state_size)
                                                      .num_layers(layers)
                                                      .batch_first(true)
                                                      .bidirectional(r.bidirectional)
                                                      .dropout(drop)));
    width_ = r.state_size * (r.bidirectional ? 2 : 1);
  }
  torch::Tensor forward(const torch::Tensor& x) {  // [B, T, C] → [B, T, width]
    if (lstm) return std::get<0>(lstm->forward(x));
    if (gru) return std::get<0>(gru->forward(x));
    return std::get<0>(rnn->forward(x));
  }
  int64_t width() const { return width_; }
  torch::nn::LSTM lstm{nullptr};
  torch::nn::GRU gru{nullptr};
  torch::nn::RNN rnn{nullptr};

 private:
  std::string kind_;
  int64_t width_;
};
TORCH_MODULE(Recurrent);

struct RnnOptions : Options<RnnOptions>, EmbedFields, RnnFields {
  int num_layers = 1;
  FcStackOptions fc;
  RnnOptions() { reduce_output = "last"; }
  template <class V>
  void visit(V& v) {
    visit_embed(v);
    visit_rnn(v, "num_layers", num_layers);
    fc.visit_fc_stack(v, kFcDoc, fc_keys());
  }
};

// rnn: embedding → recurrent layers (rnn | lstm | gru) → reduction (default: the last real
// token's state) → optional fc layers (none by default).
struct RnnEncoder : SequenceEncoder {
  RnnEncoder(const RnnOptions& o, const FeatureMetadata& m) : mode_(o.reduce()) {
    embed = register_module("embed", TokenEmbed(m, o));
    rec = register_module("recurrent", Recurrent(embed->size(), o, o.num_layers));
    fc = register_module("fc", FcStack(reduced_size(mode_, m.sequence_length, rec->width()),
                                       o.fc));
    keep_steps(mode_, m.sequence_length);
    reduce_with(mode_, rec->width());
  }
  torch::Tensor forward(const torch::Tensor& ids) override {
    return fc->forward(reducer->forward(rec->forward(embed->forward(ids)), real_steps(ids)));
  }
  int64_t output_size() const override { return flat(fc->output_size()); }
  TokenEmbed embed{nullptr};
  Recurrent rec{nullptr};
  FcStack fc{nullptr};
  std::string mode_;
};

struct CnnRnnOptions : Options<CnnRnnOptions>, EmbedFields, ConvFields, RnnFields {
  int num_rec_layers = 1;
  FcStackOptions fc;
  CnnRnnOptions() {
    reduce_output = "last";
    filter_size = 5;
    pool_size = 2;
  }
  template <class V>
  void visit(V& v) {
    visit_embed(v);
    visit_conv(v);
    visit_rnn(v, "num_rec_layers", num_rec_layers);
    fc.visit_fc_stack(v, kFcDoc, fc_keys());
  }
  std::vector<std::string> problems() const override {
    std::vector<std::string> p;
    conv_problems(p);
    return p;
  }
};

// cnnrnn: convolutions (default one, width 5, pooling 2) then recurrent layers.
struct CnnRnnEncoder : SequenceEncoder {
  CnnRnnEncoder(const CnnRnnOptions& o, const FeatureMetadata& m) : mode_(o.reduce()) {
    embed = register_module("embed", TokenEmbed(m, o));
    ConvLayer d;
    d.pool_size = o.pool_size;
    auto layers = o.layers({d});
    int64_t in = embed->size(), steps = m.sequence_length;
    for (size_t i = 0; i < layers.size(); ++i) {
      blocks.push_back(register_module("conv" + std::to_string(i),
                                       ConvBlock(in, layers[i], o.fc.activation, o.dropout,
                                                 o.pool_function)));
      in = *layers[i].num_filters;
      steps = blocks.back()->pooled(steps);
    }
    rec = register_module("recurrent", Recurrent(in, o, o.num_rec_layers));
    fc = register_module("fc", FcStack(reduced_size(mode_, steps, rec->width()),
                                       o.fc));
    keep_steps(mode_, steps);
    reduce_with(mode_, rec->width());
  }
  torch::Tensor forward(const torch::Tensor& ids) override {
    auto h = embed->forward(ids);
    auto mask = real_steps(ids);
    for (auto& b : blocks) h = b->forward(h), mask = b->pool_mask(mask);
    return fc->forward(reducer->forward(rec->forward(h), mask));
  }
  int64_t output_size() const override { return flat(fc->output_size()); }
  TokenEmbed embed{nullptr};
  std::vector<ConvBlock> blocks;
  Recurrent rec{nullptr};
  FcStack fc{nullptr};
  std::string mode_;
};

struct TransformerOptions : Options<TransformerOptions>, EmbedFields {
  int num_layers = 1;
  int num_heads = 8;
  int hidden_size = 256;
  int transformer_output_size = 256;
  FcStackOptions fc;
  TransformerOptions() {
    reduce_output = "last";
    dropout = 0.1;
  }
  template <class V>
  void visit(V& v) {
    visit_embed(v);
    v("num_layers", num_layers, "number of transformer blocks", at_least(1));
    v("num_heads", num_heads, "attention heads (must divide hidden_size)", at_least(1));
    v("hidden_size", hidden_size, "width of the attention layers", at_least(1));
    v("transformer_output_size", transformer_output_size, "width of each block's feed-forward layer", at_least(1));
    fc.visit_fc_stack(v, kFcDoc, fc_keys());
  }
  std::vector<std::string> problems() const override {
    std::vector<std::string> p;
    if (hidden_size % num_heads != 0)
      p.push_back("num_heads: " + std::to_string(num_heads) + " does not divide hidden_size " +
                  std::to_string(hidden_size));
    return p;
  }
};

// transformer: token + learned position embeddings, projected to hidden_size, then post-norm
// blocks of multi-head self-attention and a feed-forward layer, padding masked out.
struct TransformerEncoder : SequenceEncoder {
  TransformerEncoder(const TransformerOptions& o, const FeatureMetadata& m) : mode_(o.reduce()) {
    embed = register_module("embed", TokenEmbed(m, o));
    position = register_module("position",
                               torch::nn::Embedding(std::max<int64_t>(1, m.sequence_length), embed->size()));
    if (embed->size() != o.hidden_size)
      project = register_module("project", torch::nn::Linear(embed->size(), o.hidden_size));
    for (int i = 0; i < o.num_layers; ++i)
      blocks.push_back(register_module(
          "block" + std::to_string(i),
          torch::nn::TransformerEncoderLayer(
              torch::nn::TransformerEncoderLayerOptions(o.hidden_size, o.num_heads)
                  .dim_feedforward(o.transformer_output_size)
                  .dropout(o.dropout))));
    fc = register_module("fc", FcStack(reduced_size(mode_, m.sequence_length, o.hidden_size),
                                       o.fc));
    keep_steps(mode_, m.sequence_length);
    reduce_with(mode_, o.hidden_size);
  }
  torch::Tensor forward(const torch::Tensor& ids) override {
    auto mask = real_steps(ids);
    // A row without tokens attends to its first position, so attention stays defined.
    auto pad = mask.logical_not();
    pad.select(1, 0).logical_and_(mask.any(1));
    auto pos = torch::arange(ids.size(1), ids.options().dtype(torch::kLong));
    auto h = embed->forward(ids) + position->forward(pos).unsqueeze(0);
    if (project) h = project->forward(h);
    h = h.transpose(0, 1);  // [T, B, H]
    for (auto& b : blocks) h = b->forward(h, {}, pad);
    return fc->forward(reducer->forward(h.transpose(0, 1), mask));
  }
  int64_t output_size() const override { return flat(fc->output_size()); }
  TokenEmbed embed{nullptr};
  torch::nn::Embedding position{nullptr};
  torch::nn::Linear project{nullptr};
  std::vector<torch::nn::TransformerEncoderLayer> blocks;
  FcStack fc{nullptr};
  std::string mode_;
};


// mamba2 and jamba, as Ludwig builds them (ludwig/encoders/mamba_hybrid.py: pure-PyTorch
// approximations of Mamba-2 and Jamba, not the selective-scan kernels): token embeddings projected
// to d_model, blocks, a final layer norm, the reduction over the steps, then a projection to
// output_size. A Mamba-2 block: x + drop(out_proj(silu(y) * gate)), where [u, gate] =
// in_proj(norm(x)) (each expand_factor x d_model wide), u goes through a causal depthwise
// convolution of d_conv steps and then, per head, y_t = a * y_{t-1} + u_t with a learned scalar a
// in (0, 1) per head (computed here as one matrix product with the decay a^(t-s), not a loop over
// the steps). Jamba puts a pre-norm transformer block (num_heads, ffn_size) at every
// attention_every_k-th layer. Unlike Ludwig's, padding steps are masked out of the attention and the
// reduction (the convolution and the decay are causal, so right padding never reaches real steps).
struct Mamba2Fields {
  int d_model = 256, n_layers = 4, num_heads = 8, d_conv = 4, expand_factor = 2, output_size = 256;
  template <class V>
  void visit_mamba(V& v) {
    v("d_model", d_model, "width of the blocks (divisible by num_heads)", at_least(1));
    v("n_layers", n_layers, "number of blocks", at_least(1));
    v("num_heads", num_heads, "heads: each has its own decay (and attention heads in jamba)", at_least(1));
    v("d_conv", d_conv, "steps of the causal depthwise convolution", at_least(1));
    v("expand_factor", expand_factor, "inner width of a block = expand_factor x d_model", at_least(1));
    v("output_size", output_size, "width of the output projection", at_least(1));
  }
  std::vector<std::string> mamba_problems() const {
    if (d_model % num_heads == 0) return {};
    return {"num_heads: " + std::to_string(num_heads) + " does not divide d_model " + std::to_string(d_model)};
  }
};

struct Mamba2Options : Options<Mamba2Options>, EmbedFields, Mamba2Fields {
  Mamba2Options() {
    reduce_output = "mean";
    dropout = 0.1;
  }
  template <class V>
  void visit(V& v) {
    visit_embed(v);
    visit_mamba(v);
  }
  std::vector<std::string> problems() const override { return mamba_problems(); }
};

struct JambaOptions : Options<JambaOptions>, EmbedFields, Mamba2Fields {
  int attention_every_k = 4, ffn_size = 1024;
  JambaOptions() {
    reduce_output = "mean";
    dropout = 0.1;
    n_layers = 8;
  }
  template <class V>
  void visit(V& v) {
    visit_embed(v);
    visit_mamba(v);
    v("attention_every_k", attention_every_k, "every k-th layer is an attention block, the others Mamba-2 blocks",
      at_least(1));
    v("ffn_size", ffn_size, "width of the attention blocks' feed-forward layer", at_least(1));
  }
  std::vector<std::string> problems() const override { return mamba_problems(); }
};

class Mamba2BlockImpl : public torch::nn::Module {
 public:
  Mamba2BlockImpl(const Mamba2Fields& o, double dropout)
      : inner_(static_cast<int64_t>(o.d_model) * o.expand_factor), heads_(o.num_heads) {
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.d_model})));
    in_proj = register_module("in_proj", torch::nn::Linear(torch::nn::LinearOptions(o.d_model, 2 * inner_).bias(false)));
    conv = register_module("conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(inner_, inner_, o.d_conv)
                                                          .padding(o.d_conv - 1)
                                                          .groups(inner_)));
    out_proj = register_module("out_proj", torch::nn::Linear(torch::nn::LinearOptions(inner_, o.d_model).bias(false)));
    drop = register_module("drop", torch::nn::Dropout(dropout));
    log_alpha = register_parameter("log_alpha", torch::empty({heads_}).uniform_(std::log(0.1), std::log(0.99)));
  }
  torch::Tensor forward(const torch::Tensor& x) {  // [B, T, D]
    const int64_t b = x.size(0), t = x.size(1);
    auto parts = in_proj->forward(norm->forward(x)).chunk(2, -1);
    auto u = conv->forward(parts[0].transpose(1, 2)).slice(2, 0, t).transpose(1, 2);  // causal
    // y_t = sum_{s <= t} a^(t - s) u_s for each head: one [T, T] decay matrix per head.
    auto steps = torch::arange(t, x.options().dtype(torch::kFloat32));
    auto lag = steps.unsqueeze(1) - steps.unsqueeze(0);  // t - s
    auto decay = torch::exp(torch::log_sigmoid(log_alpha).view({heads_, 1, 1}) * lag.clamp_min(0)) *
                 lag.ge(0).to(lag.dtype());  // [H, T, T]
    auto uh = u.reshape({b, t, heads_, inner_ / heads_}).permute({0, 2, 1, 3});  // [B, H, T, hd]
    auto y = torch::matmul(decay.unsqueeze(0).to(uh.dtype()), uh).permute({0, 2, 1, 3}).reshape({b, t, inner_});
    return x + drop->forward(out_proj->forward(torch::silu(y) * parts[1]));
  }

 private:
  int64_t inner_, heads_;
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Linear in_proj{nullptr}, out_proj{nullptr};
  torch::nn::Conv1d conv{nullptr};
  torch::nn::Dropout drop{nullptr};
  torch::Tensor log_alpha;
};
TORCH_MODULE(Mamba2Block);

struct MambaHybridEncoder : SequenceEncoder {
  template <class O>
  MambaHybridEncoder(const O& o, const FeatureMetadata& m, int attention_every_k, int ffn_size)
      : mode_(o.reduce()), d_(o.d_model) {
    EmbedFields e = o;
    e.dropout = 0;  // the blocks' dropout, not the embedding's
    embed = register_module("embed", TokenEmbed(m, e));
    if (embed->size() != d_) project = register_module("project", torch::nn::Linear(embed->size(), d_));
    for (int i = 0; i < o.n_layers; ++i) {
      const std::string name = "block" + std::to_string(i);
      if (attention_every_k > 0 && (i + 1) % attention_every_k == 0)
        blocks.emplace_back(nullptr, register_module(name, PreNormBlock(d_, o.num_heads, ffn_size, o.dropout)));
      else
        blocks.emplace_back(register_module(name, Mamba2Block(o, o.dropout)), nullptr);
    }
    final_norm = register_module("final_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d_})));
    const int64_t steps = std::max<int64_t>(1, m.sequence_length);
    out = register_module("out", torch::nn::Linear(reduced_size(mode_, steps, d_), o.output_size));
    size_ = o.output_size;
    keep_steps(mode_, steps);
    reduce_with(mode_, d_);
  }
  torch::Tensor forward(const torch::Tensor& ids) override {
    auto mask = real_steps(ids);
    auto pad = mask.logical_not();
    pad.select(1, 0).logical_and_(mask.any(1));  // a row without tokens attends to its first step
    auto h = embed->forward(ids);
    if (project) h = project->forward(h);
    for (auto& [ssm, attention] : blocks)
      h = ssm ? ssm->forward(h) : attention->forward(h.transpose(0, 1), pad).transpose(0, 1);
    return out->forward(reducer->forward(final_norm->forward(h), mask));
  }
  int64_t output_size() const override { return flat(size_); }
  std::string mode_;
  int64_t d_, size_ = 0;
  TokenEmbed embed{nullptr};
  torch::nn::Linear project{nullptr}, out{nullptr};
  std::vector<std::pair<Mamba2Block, PreNormBlock>> blocks;
  torch::nn::LayerNorm final_norm{nullptr};
};

struct Mamba2Encoder : MambaHybridEncoder {
  Mamba2Encoder(const Mamba2Options& o, const FeatureMetadata& m) : MambaHybridEncoder(o, m, 0, 0) {}
};
struct JambaEncoder : MambaHybridEncoder {
  JambaEncoder(const JambaOptions& o, const FeatureMetadata& m)
      : MambaHybridEncoder(o, m, o.attention_every_k, o.ffn_size) {}
};

struct TfIdfOptions : Options<TfIdfOptions> {
  template <class V>
  void visit(V&) {}
};

// tf_idf: term frequency × inverse document frequency (from the training split) per vocabulary
// entry; no parameters.
struct TfIdfEncoder : EncoderBase {
  explicit TfIdfEncoder(const FeatureMetadata& m) {
    idf_ = register_buffer("idf", torch::tensor(m.idf, torch::kFloat32));
    idf_.index_put_({0}, 0.0);  // padding
  }
  torch::Tensor forward(const torch::Tensor& ids) override {
    auto counts = torch::zeros({ids.size(0), idf_.size(0)}, torch::kFloat32);
    counts.scatter_add_(1, ids, torch::ones(ids.sizes(), torch::kFloat32));
    counts.select(1, 0).zero_();
    auto tf = counts / counts.sum(1, true).clamp_min(1);
    return tf * idf_;
  }
  int64_t output_size() const override { return idf_.size(0); }
  torch::Tensor idf_;
};

using EmbeddedBuilder = std::function<std::shared_ptr<EncoderBase>(const OptionsBase&, const FeatureMetadata&,
                                                                   const std::string& reduce_output)>;
std::map<std::string, EmbeddedBuilder>& embedded_builders() {
  static std::map<std::string, EmbeddedBuilder> b;
  return b;
}

template <class O, class E>
void add_encoder(const std::string& name, const std::string& doc, bool timeseries = true) {
  embedded_builders()[name] = [](const OptionsBase& o, const FeatureMetadata& m, const std::string& reduce) {
    O copy = dynamic_cast<const O&>(o);
    copy.reduce_output = reduce;
    return std::make_shared<E>(copy, m);
  };
  std::vector<std::string> types = {"text", "sequence"};
  if (timeseries) types.push_back("timeseries");
  for (const auto& type : types) {
    std::string key = std::string(type) + "/" + name;
    register_encoder(key, {doc, {type}, [] { return std::make_shared<O>(); }},
                     [](const OptionsBase& o, const FeatureMetadata& m) {
                       return std::make_shared<E>(dynamic_cast<const O&>(o), m);
                     });
  }
}

}  // namespace

std::shared_ptr<EncoderBase> build_encoder_over_embeddings(const std::string& name, const OptionsBase& options,
                                                           int64_t steps, int64_t width,
                                                           const std::string& reduce_output) {
  auto it = embedded_builders().find(name);
  if (it == embedded_builders().end()) return nullptr;
  FeatureMetadata m;
  m.type = "sequence";
  m.embedded_steps = true;
  m.sequence_length = steps;
  m.channels = width;
  return it->second(options, m, reduce_output);
}

void register_sequence_encoders() {
  add_encoder<EmbedOptions, EmbedEncoder>("embed", "token embeddings reduced over the sequence", false);
  add_encoder<ParallelCnnOptions, ParallelCnnEncoder>(
      "parallel_cnn", "parallel convolutions of several widths, reduced, then fc layers");
  add_encoder<StackedCnnOptions, StackedCnnEncoder>(
      "stacked_cnn", "a stack of convolutions with pooling, reduced, then fc layers");
  add_encoder<StackedParallelCnnOptions, StackedParallelCnnEncoder>(
      "stacked_parallel_cnn", "stacks of parallel convolutions, reduced, then fc layers");
  add_encoder<RnnOptions, RnnEncoder>("rnn", "recurrent layers (rnn, lstm or gru)");
  add_encoder<CnnRnnOptions, CnnRnnEncoder>("cnnrnn", "convolutions, then recurrent layers");
  add_encoder<TransformerOptions, TransformerEncoder>(
      "transformer", "self-attention blocks over token and position embeddings");
  add_encoder<Mamba2Options, Mamba2Encoder>("mamba2", "Mamba-2-style blocks: a causal convolution and a decay per head");
  add_encoder<JambaOptions, JambaEncoder>("jamba", "Mamba-2-style blocks with an attention block every k layers");
  register_encoder("text/tf_idf",
                   {"term frequency x inverse document frequency",
                    {"text"},
                    [] { return std::make_shared<TfIdfOptions>(); }},
                   [](const OptionsBase&, const FeatureMetadata& m) {
                     return std::make_shared<TfIdfEncoder>(m);
                   });
}

}  // namespace kiln
