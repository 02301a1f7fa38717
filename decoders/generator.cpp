// generator (text, sequence outputs; Ludwig's sequence generator): a recurrent decoder whose
// initial state is a projection of the combiner output. Training feeds the true previous token
// (teacher forcing, starting from <SOS>); evaluation and predict decode greedily, feeding back
// the most likely token, for the output's sequence length. Logits: [rows, steps, vocabulary].
#include <torch/torch.h>

#include "config/schema.h"
#include "decoders/decoders.h"
#include "model/components.h"

namespace kiln {
namespace {

constexpr int64_t kSos = 2;  // text vocabularies start <PAD>, <UNK>, <SOS>, <EOS>

struct GeneratorOptions : Options<GeneratorOptions> {
  std::string cell_type = "gru";
  int num_layers = 1;
  int hidden_size = 256;
  template <class V>
  void visit(V& v) {
    v("cell_type", cell_type, "recurrent cell", one_of({"rnn", "lstm", "gru"}));
    v("num_layers", num_layers, "stacked recurrent layers", at_least(1));
    v("hidden_size", hidden_size, "width of the recurrent state and of the token embedding", at_least(1));
  }
};

struct GeneratorDecoder : DecoderBase {
  GeneratorDecoder(const GeneratorOptions& o, int64_t in, int64_t vocab, int64_t steps)
      : cell_(o.cell_type), layers_(o.num_layers), hidden_(o.hidden_size), steps_(steps) {
    init = register_module("init", torch::nn::Linear(in, o.num_layers * o.hidden_size));
    embed = register_module("embed", torch::nn::Embedding(vocab, o.hidden_size));
    if (cell_ == "lstm")
      lstm = register_module("lstm", torch::nn::LSTM(torch::nn::LSTMOptions(o.hidden_size, o.hidden_size)
                                                         .num_layers(o.num_layers).batch_first(true)));
    else if (cell_ == "gru")
      gru = register_module("gru", torch::nn::GRU(torch::nn::GRUOptions(o.hidden_size, o.hidden_size)
                                                      .num_layers(o.num_layers).batch_first(true)));
    else
      rnn = register_module("rnn", torch::nn::RNN(torch::nn::RNNOptions(o.hidden_size, o.hidden_size)
                                                      .num_layers(o.num_layers).batch_first(true)));
    out = register_module("out", torch::nn::Linear(o.hidden_size, vocab));
  }

  // Runs the cell over x [B, T, H] from state (h, c); returns the outputs and updates the state.
  torch::Tensor run(const torch::Tensor& x, torch::Tensor& h, torch::Tensor& c) {
    if (lstm) {
      auto [y, hc] = lstm->forward(x, std::make_tuple(h, c));
      h = std::get<0>(hc), c = std::get<1>(hc);
      return y;
    }
    auto [y, hn] = gru ? gru->forward(x, h) : rnn->forward(x, h);
    h = hn;
    return y;
  }

  torch::Tensor initial_state(const torch::Tensor& hidden) {
    return torch::tanh(init->forward(hidden)).view({hidden.size(0), layers_, hidden_}).transpose(0, 1).contiguous();
  }

  torch::Tensor forward_teacher(const torch::Tensor& hidden, const torch::Tensor& target) override {
    auto h = initial_state(hidden), c = torch::zeros_like(h);
    auto sos = torch::full({target.size(0), 1}, kSos, target.options());
    auto inputs = torch::cat({sos, target.slice(1, 0, target.size(1) - 1)}, 1);
    return out->forward(run(embed->forward(inputs), h, c));
  }

  torch::Tensor forward(const torch::Tensor& hidden) override {
    auto h = initial_state(hidden), c = torch::zeros_like(h);
    auto token = torch::full({hidden.size(0), 1}, kSos, torch::kLong);
    std::vector<torch::Tensor> logits;
    for (int64_t t = 0; t < steps_; ++t) {
      auto l = out->forward(run(embed->forward(token), h, c));  // [B, 1, V]
      logits.push_back(l);
      token = l.argmax(2);
    }
    return torch::cat(logits, 1);
  }

  std::string cell_;
  int64_t layers_, hidden_, steps_;
  torch::nn::Linear init{nullptr}, out{nullptr};
  torch::nn::Embedding embed{nullptr};
  torch::nn::LSTM lstm{nullptr};
  torch::nn::GRU gru{nullptr};
  torch::nn::RNN rnn{nullptr};
};

}  // namespace

void register_generator_decoder() {
  for (const char* type : {"text", "sequence"}) {
    const std::string key = std::string(type) + "/generator";
    register_decoder(key,
                     {"a recurrent decoder: teacher forcing in training, greedy decoding otherwise",
                      {type},
                      [] { return std::make_shared<GeneratorOptions>(); }},
                     [](const OptionsBase& o, int64_t in, int64_t vocab, const FeatureMetadata& m) {
                       return std::make_shared<GeneratorDecoder>(
                           dynamic_cast<const GeneratorOptions&>(o), in, vocab, m.sequence_length);
                     });
  }
}

}  // namespace kiln
