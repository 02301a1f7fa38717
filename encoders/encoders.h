#pragma once
// Registration calls of the built-in encoders (listed in components/builtins.cpp), and what the
// sequence combiners borrow from the sequence encoders.
#include <torch/types.h>

#include <memory>
#include <string>

namespace kiln {

struct EncoderBase;
struct OptionsBase;

// A sequence encoder (registered as "sequence/<name>") that reads steps already embedded
// ([B, steps, width] floats, every step real) instead of token ids: Ludwig's should_embed=False,
// used by the sequence combiner. `reduce_output` replaces the options' own ("none" keeps the steps).
// Returns nullptr when `name` is not such an encoder.
std::shared_ptr<EncoderBase> build_encoder_over_embeddings(const std::string& name, const OptionsBase& options,
                                                           int64_t steps, int64_t width,
                                                           const std::string& reduce_output);
// Reduces [B, T, H] over time (sum | mean | avg | max | last | concat; none returns it as is).
torch::Tensor reduce_over_time(const torch::Tensor& h, const std::string& mode);
// The reduce_output values reduce_over_time takes (null in a config means none).
const std::vector<std::string>& reduce_modes();

void register_passthrough_encoder();
void register_dense_encoder();
void register_category_encoders();
void register_sequence_encoders();
void register_image_encoders();
void register_date_encoders();
void register_set_encoders();
}  // namespace kiln
