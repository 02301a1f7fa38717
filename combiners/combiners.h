#pragma once
namespace kiln {
void register_concat_combiner();
}  // namespace kiln
