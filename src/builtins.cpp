// The one visible table of built-in components: every feature type, encoder, combiner, decoder
// and optimizer is registered here, by explicit calls.
#include <mutex>

#include "combiners/combiners.h"
#include "config/schema.h"
#include "decoders/decoders.h"
#include "encoders/encoders.h"
#include "features/feature.h"
#include "features/tokenizers.h"
#include "train/optimizers.h"

namespace kiln {

void register_builtins() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_number_feature();
    register_binary_feature();
    register_category_feature();
    register_tokenizers();
    register_text_features();
    register_image_feature();
    register_vector_feature();
    register_date_feature();
    register_set_features();
    register_timeseries_feature();
    register_anomaly_feature();
    register_passthrough_encoder();
    register_dense_encoder();
    register_category_encoders();
    register_sequence_encoders();
    register_image_encoders();
    register_date_encoders();
    register_set_encoders();
    register_pretrained_encoders();
    register_forecasting_encoders();
    register_concat_combiner();
    register_transformer_combiners();
    register_project_aggregate_combiner();
    register_tabnet_combiner();
    register_comparator_combiner();
    register_hypernetwork_combiner();
    register_sequence_combiners();
    register_regressor_decoder();
    register_classifier_decoder();
    register_mlp_classifier_decoder();
    register_generator_decoder();
    register_tagger_decoder();
    register_anomaly_decoder();
    register_optimizers();
  });
}

}  // namespace kiln
