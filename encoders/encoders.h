#pragma once
// Registration calls of the built-in encoders (listed in components/builtins.cpp).
namespace kiln {
void register_passthrough_encoder();
void register_dense_encoder();
void register_category_encoders();
void register_sequence_encoders();
void register_image_encoders();
void register_date_encoders();
void register_set_encoders();
}  // namespace kiln
