#include <doctest/doctest.h>

#include "config/config.h"
#include "config_error.h"
#include "util/error.h"
#include "util/strings.h"

using namespace kiln;


TEST_CASE("defaults are Ludwig's") {
  Config c = parse_config(
      "input_features: [{name: a, type: number}, {name: b, type: category}]\n"
      "output_features: [{name: y, type: binary}]\n",
      "m.yaml");
  CHECK(c.trainer.epochs == 100);
  CHECK(c.trainer.batch_size == 128);
  CHECK(c.trainer.learning_rate == doctest::Approx(0.001));
  CHECK(c.trainer.early_stop == 5);
  CHECK(c.trainer.optimizer.type == "adam");
  CHECK(c.combiner.type == "concat");
  CHECK(c.input_features[0].encoder.type == "passthrough");
  CHECK(c.input_features[1].encoder.type == "dense");
  CHECK(c.output_features[0].decoder.type == "regressor");
  CHECK(c.output_features[0].loss.type == "binary_weighted_cross_entropy");
  CHECK(c.validation_metric() == "roc_auc");
  CHECK(c.preprocessing.split.type == "random");
  CHECK(c.seed() == 42);
}

TEST_CASE("unknown key names the position and the nearest valid key") {
  std::string e = config_error_of(
      "input_features:\n"
      "  - name: a\n"
      "    type: category\n"
      "    encoder: {type: dense, embeding_size: 8}\n"
      "output_features: [{name: y, type: binary}]\n");
  CHECK(e ==
        "m.yaml:4:28: input_features[0].encoder: unknown key 'embeding_size' for encoder "
        "'dense'; did you mean 'embedding_size'?");
}

TEST_CASE("all errors are reported together") {
  std::string e = config_error_of(
      "input_features: [{name: a, type: nmber}]\n"
      "output_features: [{name: y, type: binary}]\n"
      "trainer: {epochs: ten, batch_sise: 3}\n");
  CHECK(e.find("m.yaml:1:34: input_features[0].type: unknown feature type 'nmber'; did you mean 'number'?") != std::string::npos);
  CHECK(e.find("m.yaml:3:19: trainer.epochs: expected an integer, got 'ten'") != std::string::npos);
  CHECK(e.find("unknown key 'batch_sise'; did you mean 'batch_size'?") != std::string::npos);
}

TEST_CASE("defaults block merges into features, feature values win") {
  Config c = parse_config(
      "defaults: {category: {encoder: {type: onehot}}, number: {preprocessing: {normalization: minmax}}}\n"
      "input_features: [{name: a, type: category}, {name: n, type: number, preprocessing: {fill_value: 3}}]\n"
      "output_features: [{name: y, type: number}]\n",
      "m.yaml");
  CHECK(c.input_features[0].encoder.type == "onehot");
  std::string yaml = config_to_yaml(c);
  CHECK(yaml.find("normalization: minmax") != std::string::npos);
  CHECK(yaml.find("fill_value: 3") != std::string::npos);
}

TEST_CASE("resolved config round-trips") {
  Config c = parse_config(
      "input_features: [{name: a, type: number}]\n"
      "output_features: [{name: y, type: category, loss: {label_smoothing: 0.1}}]\n"
      "trainer: {optimizer: {type: sgd, momentum: 0.9}, learning_rate_scheduler: {decay: cosine}}\n"
      "hyperopt: {goal: maximize, parameters: {trainer.learning_rate: {space: loguniform, lower: 0.001, upper: 0.1}}}\n",
      "m.yaml");
  std::string once = config_to_yaml(c);
  Config again = parse_config(once, "resolved.yaml");
  CHECK(config_to_yaml(again) == once);
}

TEST_CASE("trainer.use_mixed_precision: auto by default, a YAML boolean, or an error naming the value") {
  const std::string features =
      "input_features: [{name: a, type: number}]\noutput_features: [{name: y, type: binary}]\n";
  CHECK(parse_config(features, "m.yaml").trainer.use_mixed_precision == "auto");
  CHECK(parse_auto_bool("auto") == -1);
  CHECK(parse_auto_bool("true") == 1);
  CHECK(parse_auto_bool("Yes") == 1);
  CHECK(parse_auto_bool("FALSE") == 0);
  CHECK(parse_auto_bool("off") == 0);
  CHECK(parse_auto_bool("bf16") == -2);
  CHECK(parse_config(features + "trainer: {use_mixed_precision: True}\n", "m.yaml").trainer.use_mixed_precision == "True");
  CHECK(config_error_of(features + "trainer: {use_mixed_precision: bf16}\n") ==
        "m.yaml:3:32: trainer.use_mixed_precision: expected true, false or auto, got 'bf16'");
}

TEST_CASE("an augmentation step written as a bare name gets one error with the mapping to write") {
  std::string e = config_error_of(
      "input_features: [{name: a, type: image, augmentation: [{type: random_crop}, random_rotate]}]\n"
      "output_features: [{name: y, type: binary}]\n");
  CHECK(e == "m.yaml:1:77: input_features[0].augmentation[1]: expected a mapping such as "
             "{type: random_rotate}, got 'random_rotate'");
}

TEST_CASE("tied names another input feature of the same type, which is not itself tied") {
  const std::string out = "output_features: [{name: y, type: binary}]\n";
  CHECK(config_error_of("input_features: [{name: a, type: number}, {name: b, type: number, tied: c}]\n" + out) ==
        "m.yaml:1:73: input_features[1].tied: no input feature named 'c'");
  CHECK(config_error_of("input_features: [{name: a, type: number, tied: a}]\n" + out) ==
        "m.yaml:1:48: input_features[0].tied: a feature cannot be tied to itself");
  CHECK(config_error_of("input_features: [{name: a, type: category}, {name: b, type: number, tied: a}]\n" + out) ==
        "m.yaml:1:75: input_features[1].tied: 'a' is a category feature; a number feature can only use the encoder of "
        "another number feature");
  CHECK(config_error_of("input_features: [{name: a, type: number}, {name: b, type: number, tied: a}, "
                        "{name: c, type: number, tied: b}]\n" + out) ==
        "m.yaml:1:107: input_features[2].tied: 'b' is itself tied to 'a'; tie to 'a' instead");
}
