#pragma once
namespace kiln {
void register_regressor_decoder();
void register_classifier_decoder();
void register_mlp_classifier_decoder();  // binary, category
void register_generator_decoder();  // text, sequence
void register_tagger_decoder();     // text, sequence
void register_anomaly_decoder();    // anomaly
}  // namespace kiln
