#pragma once
namespace kiln {
void register_concat_combiner();
void register_transformer_combiners();  // transformer, ft_transformer
void register_project_aggregate_combiner();
void register_tabnet_combiner();
void register_comparator_combiner();
void register_hypernetwork_combiner();
void register_sequence_combiners();  // sequence_concat, sequence
}  // namespace kiln
