#pragma once
// Schemas of everything a config can name: feature types, encoders, decoders, combiners and
// optimizers. Each component's file registers its schema here AND its builder in the model layer,
// in the same register_*() call, so no component exists without its schema.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/yaml_io.h"
#include "util/registry.h"

namespace kiln {

struct FeatureSchema {
  std::string doc;
  bool can_input = true, can_output = true;
  std::function<std::shared_ptr<OptionsBase>(bool output)> make_preprocessing;
  std::string default_encoder, default_decoder, default_loss;
  std::vector<std::string> losses;
  std::vector<std::string> metrics;  // validation metrics this output type reports
  std::string default_metric;        // Ludwig's default validation metric
  // Per-type options of a feature, asked for by name instead of comparing type names: an output's
  // decision threshold (binary), how many top classes it reports (category), an input's
  // augmentation steps (image).
  bool output_threshold = false, output_top_k = false, input_augmentation = false;
  // An output's threshold on an unbounded score, or auto (anomaly): threshold, threshold_percentile.
  bool output_score_threshold = false;
  // What AutoML asks of the type: the search space a dataset with such an input gets ("image",
  // "text"; empty: tabular), whether init_config/automl may predict it as a target, and the
  // missing-value strategy it writes for such inputs (empty: the type's default).
  std::string automl_space;
  bool automl_target = false;
  std::string automl_missing_value_strategy;
};

struct ComponentSchema {
  ComponentSchema() = default;
  ComponentSchema(std::string doc_, std::vector<std::string> types, std::function<std::shared_ptr<OptionsBase>()> make)
      : doc(std::move(doc_)), feature_types(std::move(types)), make_options(std::move(make)) {}
  std::string doc;
  std::vector<std::string> feature_types;  // encoders / decoders: the types they fit
  std::function<std::shared_ptr<OptionsBase>()> make_options;
  // Encoders that need their feature preprocessed their way (a pretrained model's tokenizer and
  // vocabulary): the preprocessing keys they set, from their options, over the config's (Ludwig
  // fixes the same keys for its Hugging Face encoders).
  std::function<YAML::Node(const OptionsBase&)> fixed_preprocessing;
};

Registry<FeatureSchema>& feature_schemas();
Registry<ComponentSchema>& encoder_schemas();  // key "<feature type>/<encoder name>"
Registry<ComponentSchema>& decoder_schemas();  // key "<feature type>/<decoder name>"
Registry<ComponentSchema>& combiner_schemas();
Registry<ComponentSchema>& optimizer_schemas();

// Names of encoders (or decoders) registered for a feature type.
std::vector<std::string> component_names_for(const Registry<ComponentSchema>& r,
                                             const std::string& feature_type);

// Registers every built-in component (components/builtins.cpp); idempotent.
void register_builtins();

}  // namespace kiln
