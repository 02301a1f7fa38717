// Ludwig's older syntax is upgraded on load, keys without effect are dropped with a warning, and
// names Ludwig has but Kiln lacks are refused as such (src/config/ludwig_compat.h).
#include <doctest/doctest.h>

#include "config/config.h"
#include "config_error.h"
#include "config/ludwig_compat.h"
#include "features/tokenizers.h"
#include "util/error.h"
#include "util/strings.h"

using namespace kiln;

namespace {


bool has_warning(const Config& c, const std::string& text) {
  for (const auto& w : c.warnings)
    if (w.find(text) != std::string::npos) return true;
  return false;
}

std::vector<std::string> tokens(const std::string& tokenizer, const std::string& text) {
  std::vector<std::string> out;
  tokenizers().find(tokenizer)->make("")->tokenize(text, [&](std::string_view t) { out.emplace_back(t); });
  return out;
}

}  // namespace

TEST_CASE("a Ludwig 0.4 config reads as the same config written in today's schema") {
  register_builtins();
  const Config old = parse_config(
      "input_features:\n"
      "  - name: review\n"
      "    type: text\n"
      "    encoder: parallel_cnn\n"
      "    embedding_size: 32\n"
      "  - name: price\n"
      "    type: numerical\n"
      "output_features:\n"
      "  - name: label\n"
      "    type: category\n"
      "    num_fc_layers: 1\n"
      "    output_size: 64\n"
      "    dropout: 0.2\n"
      "    bias: false\n"
      "preprocessing:\n"
      "  split_probabilities: [0.8, 0.1, 0.1]\n"
      "  text:\n"
      "    word_tokenizer: space\n"
      "training:\n"
      "  epochs: 3\n"
      "  decay: true\n"
      "  decay_rate: 0.9\n"
      "  decay_steps: 100\n"
      "  reduce_learning_rate_on_plateau: 2\n"
      "  eval_batch_size: 0\n",
      "old.yaml");
  const Config now = parse_config(
      "input_features:\n"
      "  - name: review\n"
      "    type: text\n"
      "    encoder: {type: parallel_cnn, embedding_size: 32}\n"
      "  - name: price\n"
      "    type: number\n"
      "output_features:\n"
      "  - name: label\n"
      "    type: category\n"
      "    decoder: {num_fc_layers: 1, fc_output_size: 64, fc_dropout: 0.2, use_bias: false}\n"
      "defaults:\n"
      "  text:\n"
      "    preprocessing:\n"
      "      tokenizer: space\n"
      "preprocessing:\n"
      "  split: {probabilities: [0.8, 0.1, 0.1]}\n"
      "trainer:\n"
      "  epochs: 3\n"
      "  learning_rate_scheduler: {decay: exponential, decay_rate: 0.9, decay_steps: 100, reduce_on_plateau: 2}\n",
      "now.yaml");
  CHECK(now.warnings.empty());
  std::string a = config_to_yaml(old), b = config_to_yaml(now);
  // `defaults` is kept as written; the upgraded one is the same mapping.
  CHECK(a == b);
  // One warning per rewrite, each at its line, saying what it became.
  CHECK(has_warning(old, "old.yaml:19:1: training: read as trainer (renamed in Ludwig 0.5)"));
  CHECK(has_warning(old, "old.yaml:4:14: input_features[0].encoder: read as {type: parallel_cnn} (Ludwig 0.6)"));
  CHECK(has_warning(old, "old.yaml:5:5: input_features[0]: encoder options written at feature level "
                         "(embedding_size) read under encoder: (Ludwig 0.6)"));
  CHECK(has_warning(old, "old.yaml:7:11: input_features[1].type: 'numerical' read as 'number' (Ludwig 0.5)"));
  CHECK(has_warning(old, "old.yaml:14:5: output_features[0].bias: read as output_features[0].use_bias"));
  CHECK(has_warning(old, "old.yaml:11:5: output_features[0]: decoder options written at feature level (num_fc_layers, "
                         "output_size as fc_output_size, dropout as fc_dropout, use_bias) read under decoder: (Ludwig 0.6)"));
  CHECK(has_warning(old, "preprocessing.text: read as defaults.text.preprocessing (Ludwig 0.5)"));
  CHECK(has_warning(old, "defaults.text.preprocessing.word_tokenizer: read as defaults.text.preprocessing.tokenizer"));
  CHECK(has_warning(old, "preprocessing.split_probabilities: read as preprocessing.split.probabilities (Ludwig 0.5)"));
  CHECK(has_warning(old, "trainer.decay: read as trainer.learning_rate_scheduler.decay (Ludwig 0.7)"));
  CHECK(has_warning(old, "trainer.eval_batch_size: 0 read as unset"));
  CHECK(old.warnings.size() == 14);
}

TEST_CASE("keys Ludwig accepts without effect are dropped with a warning naming why") {
  register_builtins();
  const Config c = parse_config(
      "input_features:\n"
      "  - name: img\n"
      "    type: image\n"
      "    preprocessing: {num_processes: 4}\n"
      "    encoder:\n"
      "      type: stacked_cnn\n"
      "      conv_layers: [{num_filters: 8, out_channels: 16}]\n"
      "output_features:\n"
      "  - name: y\n"
      "    type: binary\n"
      "    weight_regularization: 0.1\n"
      "    decoder: {type: mlp_classifier, dropout: 0.3, mc_dropout_samples: 20}\n"
      "combiner: {type: concat, fc_size: 64}\n"
      "trainer: {max_batch_size: 512, checkpoints_per_epoch: 2, optimizer: {type: adam, lr: 0.1}}\n",
      "m.yaml");
  CHECK(c.warnings.size() == 8);
  CHECK(has_warning(c, "output_features[0].decoder.mc_dropout_samples: has no effect in Kiln and is ignored: Ludwig "
                       "stores it, but its predict and evaluate never run the passes"));
  CHECK(has_warning(c, "m.yaml:4:21: input_features[0].preprocessing.num_processes: has no effect in Kiln and "
                       "is ignored: Kiln decodes images on trainer.threads"));
  CHECK(has_warning(c, "input_features[0].encoder.conv_layers[0].num_filters: has no effect in Kiln and is "
                       "ignored: Ludwig 0.4's name, which Ludwig ignores in conv_layers since 0.5 (use out_channels)"));
  CHECK(has_warning(c, "m.yaml:11:5: output_features[0].weight_regularization: has no effect"));
  CHECK(has_warning(c, "combiner.fc_size: has no effect in Kiln and is ignored"));
  CHECK(has_warning(c, "trainer.max_batch_size: has no effect"));
  CHECK(has_warning(c, "trainer.checkpoints_per_epoch: has no effect"));
  CHECK(has_warning(c, "trainer.optimizer.lr: has no effect"));
  CHECK(c.trainer.learning_rate == doctest::Approx(0.001));
}

TEST_CASE("names Ludwig has and Kiln lacks say so, without a typo suggestion") {
  register_builtins();
  const std::string base = "output_features: [{name: y, type: binary}]\n";
  CHECK(config_error_of("input_features: [{name: t, type: text, encoder: roberta}]\n" + base) ==
        "m.yaml:1:49: input_features[0].encoder.type: Ludwig's encoder 'roberta' is not available in Kiln: "
        "Kiln's pretrained text encoders are bert, distilbert and auto_transformer (for BERT and DistilBERT "
        "models, read from local files); or use transformer, parallel_cnn, stacked_cnn, rnn or embed, trained from scratch");
  CHECK(config_error_of("input_features: [{name: t, type: text, encoder: {type: auto_transformer}}]\n" + base) ==
        "m.yaml:1:49: input_features[0].encoder.pretrained_model_name_or_path: auto_transformer needs the pretrained "
        "model (a directory or a cached name)");
  CHECK(config_error_of("input_features: [{name: t, type: text, encoder: {type: bert, adapter: {type: lora}}}]\n" + base)
            .find("Ludwig's key 'adapter' is not available in Kiln: adapters (LoRA and others) are not built in") != std::string::npos);
  CHECK(config_error_of("input_features: [{name: a, type: audio}]\n" + base) ==
        "m.yaml:1:34: input_features[0].type: Ludwig's feature type 'audio' is not available in Kiln: "
        "audio features are not supported by Kiln");
  CHECK(config_error_of("input_features: [{name: a, type: number}]\noutput_features: [{name: y, type: image}]\n")
            .find("output_features[0].type: Ludwig's output type 'image' is not available in Kiln") !=
        std::string::npos);
  CHECK(config_error_of("input_features: [{name: a, type: number}]\n" + base + "trainer: {optimizer: {type: lion}}\n")
            .find("trainer.optimizer.type: Ludwig's optimizer 'lion' is not available in Kiln") != std::string::npos);
  CHECK(config_error_of("input_features: [{name: a, type: number}]\n" + base +
                        "trainer: {gradient_accumulation_steps: 4}\n") ==
        "m.yaml:3:11: trainer: Ludwig's key 'gradient_accumulation_steps' is not available in Kiln: gradient "
        "accumulation is not built in; raise batch_size instead");
  CHECK(config_error_of("input_features: [{name: t, type: text, preprocessing: {tokenizer: english_lemmatize}}]\n" + base)
            .find("preprocessing.tokenizer: Ludwig's tokenizer 'english_lemmatize' is not available in Kiln") !=
        std::string::npos);
  // A real typo still gets its suggestion.
  CHECK(config_error_of("input_features: [{name: a, type: numbr}]\n" + base).find("did you mean 'number'") !=
        std::string::npos);
}

TEST_CASE("forecasting: an input and an output of one name; feature-level window_size has no effect") {
  register_builtins();
  const Config c = parse_config(
      "input_features:\n"
      "  - {name: load, type: timeseries, preprocessing: {window_size: 12}}\n"
      "  - {name: load_input, type: number}\n"
      "  - {name: history, type: timeseries, window_size: 64, encoder: {type: nbeats}}\n"
      "output_features:\n"
      "  - {name: load, type: timeseries, preprocessing: {horizon: 3}}\n"
      "  - {name: forecast, type: timeseries, window_size: 8, horizon: 8}\n"
      "preprocessing: {split: {type: datetime, column: ts}}\n",
      "m.yaml");
  REQUIRE(c.input_features.size() == 3);
  CHECK(c.input_features[0].name == "load_input2");  // load_input is taken
  CHECK(c.input_features[0].column == "load");
  CHECK(c.output_features[0].name == "load");
  CHECK(c.output_features[0].column == "load");
  CHECK(has_warning(c, "m.yaml:2:12: input_features[0].name: 'load' is also an output feature's name; Kiln keys "
                       "features by name, so this input is named 'load_input2' (its column stays 'load')"));
  CHECK(has_warning(c, "input_features[2].window_size: has no effect in Kiln and is ignored: Ludwig reads the "
                       "window from preprocessing.window_size"));
  CHECK(has_warning(c, "output_features[1].window_size: has no effect in Kiln and is ignored"));
  CHECK(has_warning(c, "output_features[1].horizon: has no effect in Kiln and is ignored"));
  CHECK(c.warnings.size() == 4);
  CHECK(c.input_features[2].encoder.type == "nbeats");
  CHECK(c.preprocessing.split.type == "datetime");
  // The datetime split needs its column.
  CHECK(config_error_of("input_features: [{name: a, type: number}]\noutput_features: [{name: y, type: number}]\n"
                        "preprocessing: {split: {type: datetime}}\n") ==
        "m.yaml:3:24: preprocessing.split.column: split type 'datetime' needs a column");
}

TEST_CASE("a quality preset sets what the config does not; a combiner of another type keeps its own options") {
  register_builtins();
  const Config c = parse_config(
      "preset: tabular_realmlp\n"
      "input_features: [{name: a, type: number}]\n"
      "output_features: [{name: y, type: binary}]\n"
      "combiner: {type: tabnet}\n"
      "trainer: {epochs: 7, optimizer: {type: adamw, weight_decay: 0.1}}\n",
      "m.yaml");
  CHECK(c.combiner.type == "tabnet");  // none of the preset's concat options
  CHECK(c.trainer.epochs == 7);
  CHECK(c.trainer.early_stop == 40);
  CHECK(c.trainer.learning_rate == doctest::Approx(0.0005));
  CHECK(c.trainer.optimizer.type == "adamw");
  CHECK(has_warning(c, "m.yaml:1:1: preset: Ludwig's preset 'tabular_realmlp' sets what the config does not: defaults, "
                       "trainer.early_stop, trainer.batch_size, trainer.learning_rate, trainer.learning_rate_scheduler"));
  CHECK(config_error_of("preset: [best_quality]\ninput_features: [{name: a, type: number}]\n"
                        "output_features: [{name: y, type: binary}]\n") ==
        "m.yaml:1:9: preset: expected one of Ludwig's presets best_quality, high_quality, medium_quality, "
        "tabular_realmlp; got a list");
}

TEST_CASE("an LLM config is refused at model_type, before any of its keys") {
  register_builtins();
  CHECK(config_error_of("base_model: meta-llama/Llama-2-7b-hf\n"
                 "adapter: {type: lora}\n"
                 "quantization: {bits: 4}\n"
                 "model_type: llm\n"
                 "input_features: [{name: prompt, type: text}]\n"
                 "output_features: [{name: answer, type: text}]\n") ==
        "m.yaml:4:13: model_type: Ludwig's model type 'llm' is not available in Kiln: LLM fine-tuning is not "
        "part of Kiln");
}

TEST_CASE("null means none where none is a choice (Ludwig's normalization: null)") {
  register_builtins();
  const Config c = parse_config(
      "input_features: [{name: a, type: number, preprocessing: {normalization: null}}]\n"
      "output_features: [{name: y, type: number, preprocessing: {normalization: ~}}]\n"
      "trainer: {learning_rate_scheduler: {decay: null}}\n",
      "m.yaml");
  CHECK(config_to_yaml(c).find("normalization: none") != std::string::npos);
  CHECK(c.trainer.learning_rate_scheduler.decay == "none");
  CHECK(config_error_of("input_features: []\noutput_features: [{name: y, type: binary}]\n") ==
        "m.yaml:1:17: input_features: expected a non-empty list of features, got an empty list");
}

TEST_CASE("Ludwig's rule-based tokenizers") {
  register_builtins();
  CHECK(tokens("comma", " red, green ,blue,, ") == std::vector<std::string>{"red", "green", "blue"});
  CHECK(tokens("underscore", "a_b _ c") == std::vector<std::string>{"a", "b", "c"});
  CHECK(tokens("untokenized", " New York ") == std::vector<std::string>{" New York "});
  CHECK(tokens("stripped", " New York ") == std::vector<std::string>{"New York"});
  CHECK(tokens("comma", "").empty());
}

TEST_CASE("kiln config --upgrade's YAML parses without warnings") {
  register_builtins();
  std::vector<std::string> warnings;
  YAML::Node up = load_config_yaml(
      "input_features: [{name: a, type: numerical}]\noutput_features: [{name: y, type: binary}]\n"
      "training: {epochs: 2}\n",
      "m.yaml", &warnings);
  CHECK(warnings.size() == 2);
  YAML::Emitter e;
  e << up;
  const Config again = parse_config(e.c_str(), "up.yaml");
  CHECK(again.warnings.empty());
  CHECK(again.trainer.epochs == 2);
  CHECK(again.input_features[0].type == "number");
}

TEST_CASE("an option at feature level wins over the same option already under encoder:, as in Ludwig") {
  register_builtins();
  const Config c = parse_config(
      "input_features:\n"
      "  - {name: c, type: category, encoder: {type: dense, embedding_size: 4}, embedding_size: 8}\n"
      "output_features: [{name: y, type: binary}]\n",
      "m.yaml");
  CHECK(config_to_yaml(c).find("embedding_size: 8") != std::string::npos);
  CHECK(config_to_yaml(c).find("embedding_size: 4") == std::string::npos);
}
