// The one validation mechanism (config/yaml_io.h): limits and choices declared with each field in
// visit(), rules between fields in the struct's problems(), the hyperopt block read by the same
// visitor, every problem reported together at its own file:line:col.
#include <doctest/doctest.h>

#include "config/config.h"
#include "config_error.h"
#include "features/feature.h"
#include "model/components.h"
#include "util/error.h"
#include "util/strings.h"

using namespace kiln;

namespace {


const std::string kFeatures =
    "input_features: [{name: a, type: number}]\noutput_features: [{name: y, type: binary}]\n";

}  // namespace

TEST_CASE("limits and choices: every problem of a config at once, each at its value") {
  const std::string e = config_error_of(
      kFeatures +
      "trainer: {epochs: 0, batch_size: -3, learning_rate: 0, learning_rate_scheduler: {decay: cosin}}\n"
      "combiner: {type: concat, dropout: 1.5, norm: batchnorm, num_fc_layers: -1}\n"
      "hyperopt: {goal: maximise, parameters: {trainer.learning_rate: {space: loguniform, lower: 0, upper: 1}}}\n");
  const std::vector<std::string> lines = split(e, '\n');
  CHECK(lines == std::vector<std::string>{
                     "m.yaml:4:72: combiner.num_fc_layers: expected at least 0, got -1",
                     "m.yaml:4:46: combiner.norm: unknown value 'batchnorm'; did you mean 'batch'?",
                     "m.yaml:4:35: combiner.dropout: expected a value in [0, 1), got 1.5",
                     "m.yaml:3:19: trainer.epochs: expected at least 1, got 0",
                     "m.yaml:3:34: trainer.batch_size: expected at least 1, got -3",
                     "m.yaml:3:53: trainer.learning_rate: expected a positive number, got 0",
                     "m.yaml:3:89: trainer.learning_rate_scheduler.decay: unknown decay 'cosin'; did you mean 'cosine'?",
                     "m.yaml:5:18: hyperopt.goal: unknown goal 'maximise'; did you mean 'maximize'?",
                     "m.yaml:5:91: hyperopt.parameters.trainer.learning_rate.lower: loguniform needs lower > 0, got 0",
                 });
}

TEST_CASE("rules between fields and required keys are reported with the rest") {
  // AugmentationOp::problems (max below min), a gate without its metric (required), a number
  // limit inside a list (fc_layers[1].output_size).
  const std::string e = config_error_of(
      "input_features: [{name: i, type: image, augmentation: [{type: random_brightness, min: 1.5, max: 1.2}]}]\n"
      "output_features: [{name: y, type: binary}]\n"
      "combiner: {fc_layers: [{output_size: 8}, {output_size: 0}]}\n"
      "slices: {gates: [{min: 0.5}]}\n");
  CHECK(e.find("m.yaml:1:97: input_features[0].augmentation[0].max: expected at least min (1.5), got 1.2") !=
        std::string::npos);
  CHECK(e.find("m.yaml:3:56: combiner.fc_layers[1].output_size: expected at least 1, got 0") != std::string::npos);
  CHECK(e.find("m.yaml:4:18: slices.gates[0]: missing 'metric'") != std::string::npos);
}

TEST_CASE("kiln describe lists each option's limits and choices") {
  DocVisitor d;
  encoder_schemas().find("image/stacked_cnn")->make_options()->describe(d);
  std::map<std::string, std::string> limits;
  for (const auto& it : d.items) limits[it.key] = it.limits;
  CHECK(limits["kernel_size"] == "at least 1");
  CHECK(limits["fc_dropout"] == "a value in [0, 1)");
  CHECK(limits["padding"] == "valid, same or a number of pixels");
  CHECK(limits["pool_function"] == "one of max, average, avg, mean");
  CHECK(limits["fc_norm"] == "one of batch, layer");
}

TEST_CASE("one fc stack: each component's own key names, fc_layers over num_fc_layers") {
  auto read = [](const char* registry_key, const char* yaml, bool encoder) {
    std::vector<std::string> errors;
    auto opts = (encoder ? encoder_schemas() : decoder_schemas()).find(registry_key)->make_options();
    YamlReader r("t.yaml", YAML::Load(yaml), "x", &errors);
    opts->read(r);
    r.finish();
    return std::make_pair(opts, errors);
  };
  // A decoder's stack is named as in Ludwig's decoders (fc_output_size, fc_dropout).
  auto [dec, derr] = read("number/regressor", "{num_fc_layers: 2, fc_output_size: 16, fc_dropout: 0.2}", false);
  CHECK(derr.empty());
  DocVisitor d;
  dec->describe(d);
  std::vector<std::string> keys;
  for (const auto& it : d.items) keys.push_back(it.key);
  CHECK(keys == std::vector<std::string>{"fc_layers", "num_fc_layers", "fc_output_size", "fc_activation", "fc_norm",
                                         "fc_dropout", "use_bias"});
  // The same stack under a combiner's names; fc_layers wins over num_fc_layers (Ludwig's rule).
  std::vector<std::string> errors;
  auto comb = combiner_schemas().find("concat")->make_options();
  YamlReader r("t.yaml", YAML::Load("{fc_layers: [{output_size: 7}, {output_size: 5}], num_fc_layers: 4}"), "combiner",
               &errors);
  comb->read(r);
  REQUIRE(errors.empty());
  CombinerInputs in;
  in.sizes = {3}, in.names = {"a"}, in.types = {"number"}, in.steps = {0};
  auto built = (*combiner_builders().find("concat"))(*comb, in);
  CHECK(built->output_size() == 5);
  // resnet offers no activation or norm for its stack.
  auto [resnet, rerr] = read("image/resnet", "{fc_activation: tanh}", true);
  REQUIRE(rerr.size() == 1);
  CHECK(rerr[0].find("unknown key 'fc_activation'") != std::string::npos);
}

TEST_CASE("feature metadata: each type saves the fields it declares, and an unknown type is refused") {
  FeatureMetadata num;
  num.name = "n", num.type = "number", num.mean = 2, num.idx2str = {"never", "saved"};
  FeatureMetadata bin;
  bin.name = "b", bin.type = "binary", bin.idx2str = {"no", "yes"}, bin.str2freq = {3, 4}, bin.true_label = "yes";
  bin.index();
  const std::string json = metadata_to_json({{"n", num}, {"b", bin}});
  CHECK(json.find("never") == std::string::npos);  // a number keeps statistics, no vocabulary
  CHECK(json.find("\"true_label\": \"yes\"") != std::string::npos);
  MetadataMap back = metadata_from_json(json, "meta.json");
  CHECK(back.at("n").mean == 2);
  CHECK(back.at("n").idx2str.empty());
  CHECK(back.at("b").str2idx.at("yes") == 1);
  CHECK(back.at("b").true_label == "yes");
  CHECK_THROWS_WITH_AS(metadata_from_json("{\"x\": {\"type\": \"hologram\"}}", "meta.json"),
                       "meta.json: corrupt feature metadata for 'x': unknown feature type 'hologram'", ModelError);
  for (const auto& entry : feature_kinds().entries()) {
    const std::string& name = entry.first;  // not a structured binding: CAPTURE's lambda takes it
    CAPTURE(name);
    CHECK(entry.second->metadata_fields() != 0);
  }
}
