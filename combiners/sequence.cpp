// sequence_concat and sequence: the combiners that keep the time axis, as in Ludwig.
//
// The main sequence feature (main_sequence_feature, else the first input whose encoder keeps the
// sequence: reduce_output: null) gives the steps. Every other input is concatenated to it step by
// step: a sequence of the same length step for step, a reduced output repeated on every step.
// reduce_output (default null) then reduces over time; kept, the [B, T, H] output is what a
// tagger decoder labels. `sequence` runs a sequence encoder (default parallel_cnn) over the
// concatenation first, reading its steps as already embedded (Ludwig's should_embed=False).
#include <torch/torch.h>

#include "combiners/combiners.h"
#include "config/schema.h"
#include "encoders/encoders.h"
#include "model/components.h"
#include "util/error.h"

namespace kiln {
namespace {

// Fields both combiners share.
struct SequenceFields {
  std::optional<std::string> main_sequence_feature;
  std::optional<std::string> reduce_output;
  template <class V>
  void visit_sequence(V& v) {
    v("main_sequence_feature", main_sequence_feature,
      "the input whose steps the output keeps (null: the first input that keeps its sequence)");
    v("reduce_output", reduce_output, "reduction over time (null keeps the steps for a tagger)",
      one_of_names(reduce_modes));
  }
  std::string reduce() const { return reduce_output.value_or("none"); }
};

struct SequenceConcatOptions : Options<SequenceConcatOptions>, SequenceFields {
  template <class V>
  void visit(V& v) {
    visit_sequence(v);
  }
};

struct SequenceOptions : Options<SequenceOptions>, SequenceFields {
  TypedOptions encoder;
  SequenceOptions() {
    encoder.what = "encoder";
    encoder.context = " for the sequence combiner";
    encoder.factory = [](const std::string& name, std::vector<std::string>& candidates) -> std::shared_ptr<OptionsBase> {
      candidates = component_names_for(encoder_schemas(), "sequence");
      candidates.erase(std::remove(candidates.begin(), candidates.end(), "tf_idf"), candidates.end());
      const ComponentSchema* s = name == "tf_idf" ? nullptr : encoder_schemas().find("sequence/" + name);
      return s ? s->make_options() : nullptr;
    };
    encoder.type = "parallel_cnn";
    std::vector<std::string> unused;
    encoder.options = encoder.factory(encoder.type, unused);
  }
  template <class V>
  void visit(V& v) {
    visit_sequence(v);
    v("encoder", encoder, "the sequence encoder run over the concatenated steps ({type: parallel_cnn, ...})");
  }
};

// Which input is the main sequence, and how every input joins it.
struct SequenceLayout {
  size_t main = 0;
  int64_t steps = 0, width = 0;  // of the concatenation, per step
};

SequenceLayout layout_of(const SequenceFields& o, CombinerInputs in, const std::string& combiner) {
  in.steps.resize(in.names.size(), 0);  // none given: no input keeps its sequence
  SequenceLayout l;
  bool found = false;
  for (size_t i = 0; i < in.names.size(); ++i) {
    const bool named = o.main_sequence_feature && in.names[i] == *o.main_sequence_feature;
    if (named && in.steps[i] == 0)
      throw ConfigError("combiner '" + combiner + "': main_sequence_feature '" + in.names[i] +
                        "' does not keep its sequence: give its encoder reduce_output: null");
    if (named || (!o.main_sequence_feature && !found && in.steps[i] > 0)) {
      l.main = i;
      found = true;
      if (named) break;
    }
  }
  if (!found) {
    if (o.main_sequence_feature)
      throw ConfigError("combiner '" + combiner + "': main_sequence_feature '" + *o.main_sequence_feature +
                        "' is not an input feature");
    throw ConfigError("combiner '" + combiner + "': no input keeps its sequence; give a text, sequence or "
                      "timeseries input an encoder with reduce_output: null");
  }
  l.steps = in.steps[l.main];
  for (size_t i = 0; i < in.names.size(); ++i) {
    if (in.steps[i] > 0 && in.steps[i] != l.steps)
      throw ConfigError("combiner '" + combiner + "': input feature '" + in.names[i] + "' has " +
                        std::to_string(in.steps[i]) + " steps and the main sequence feature '" + in.names[l.main] +
                        "' has " + std::to_string(l.steps) + "; give both the same preprocessing.max_sequence_length, "
                        "or reduce '" + in.names[i] + "' (its encoder's reduce_output)");
    l.width += in.steps[i] > 0 ? in.sizes[i] / in.steps[i] : in.sizes[i];
  }
  return l;
}

// [B, T, sum of widths]: the main sequence with every other input joined to each step.
torch::Tensor concat_steps(const std::vector<torch::Tensor>& encoded, const SequenceLayout& l) {
  std::vector<torch::Tensor> parts;
  parts.reserve(encoded.size());
  const torch::Tensor& main = encoded[l.main];
  for (const auto& e : encoded)
    parts.push_back(e.dim() == 3 ? e : e.unsqueeze(1).expand({e.size(0), main.size(1), e.size(1)}));
  return torch::cat(parts, 2);
}

struct SequenceConcatCombiner : CombinerBase {
  SequenceConcatCombiner(const SequenceConcatOptions& o, const CombinerInputs& in)
      : layout_(layout_of(o, in, "sequence_concat")), mode_(o.reduce()) {
    reducer = register_module("reduce", SequenceReducer(mode_, layout_.width));
  }
  torch::Tensor forward(const std::vector<torch::Tensor>& encoded) override {
    return reducer->forward(concat_steps(encoded, layout_));
  }
  int64_t output_size() const override { return mode_ == "concat" ? layout_.steps * layout_.width : layout_.width; }
  int64_t output_steps() const override { return mode_ == "none" ? layout_.steps : 0; }
  SequenceLayout layout_;
  std::string mode_;
  SequenceReducer reducer{nullptr};
};

struct SequenceCombiner : CombinerBase {
  SequenceCombiner(const SequenceOptions& o, const CombinerInputs& in) : layout_(layout_of(o, in, "sequence")) {
    encoder = build_encoder_over_embeddings(o.encoder.type, *o.encoder.options, layout_.steps, layout_.width, o.reduce());
    if (!encoder) throw ConfigError("combiner 'sequence': encoder '" + o.encoder.type + "' cannot read embedded steps");
    register_module("encoder", encoder);
  }
  torch::Tensor forward(const std::vector<torch::Tensor>& encoded) override {
    return encoder->forward(concat_steps(encoded, layout_));
  }
  int64_t output_size() const override {
    const int64_t steps = encoder->output_steps();
    return steps > 0 ? encoder->output_size() / steps : encoder->output_size();
  }
  int64_t output_steps() const override { return encoder->output_steps(); }
  SequenceLayout layout_;
  std::shared_ptr<EncoderBase> encoder;
};

}  // namespace

void register_sequence_combiners() {
  register_combiner("sequence_concat",
                    {"the main sequence's steps, each joined with every other input",
                     {},
                     [] { return std::make_shared<SequenceConcatOptions>(); }},
                    [](const OptionsBase& o, const CombinerInputs& in) {
                      return std::make_shared<SequenceConcatCombiner>(
                          dynamic_cast<const SequenceConcatOptions&>(o), in);
                    });
  register_combiner("sequence",
                    {"sequence_concat, then a sequence encoder over the joined steps",
                     {},
                     [] { return std::make_shared<SequenceOptions>(); }},
                    [](const OptionsBase& o, const CombinerInputs& in) {
                      return std::make_shared<SequenceCombiner>(
                          dynamic_cast<const SequenceOptions&>(o), in);
                    });
}

}  // namespace kiln
