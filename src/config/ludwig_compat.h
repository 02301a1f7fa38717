#pragma once
// What Kiln does with a Ludwig config beyond reading its current schema (docs/LUDWIG.md):
//  1. Upgrades on load: the older syntax Ludwig itself still rewrites when it loads a config (its
//     backward_compatibility.upgrade_config: `training:` for `trainer:`, `encoder: bert` for
//     `{type: bert}`, encoder / decoder options written at feature level, `preprocessing.<type>`
//     for `defaults.<type>.preprocessing`, `trainer.decay*` for `learning_rate_scheduler`, ...).
//  2. Keys Ludwig accepts without effect (deprecated, or for machinery Kiln does not have): read,
//     dropped, and named in a warning, never silently.
//  3. Names Ludwig has and Kiln does not (encoders, optimizers, feature types, ...): refused with a
//     message saying exactly that, instead of a typo suggestion.
// Each rewrite or dropped key gives one warning line, "file:line:col: path: what happened".
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

namespace kiln {

// Rewrites `root` (as loaded, before it is read; nodes keep their marks) in place. Returns the
// warnings, one per rewrite or dropped key.
std::vector<std::string> upgrade_ludwig_config(YAML::Node& root, const std::string& file);

// Why Kiln lacks a name that Ludwig has, or "" when Ludwig has no such name either. `what`:
// "encoder", "decoder", "combiner", "optimizer", "feature type", "output type", "tokenizer",
// "loss", "model type", or "key" with a dotted path ("trainer.loss_balancing",
// "input_features[].tied": list indexes written []).
std::string not_in_kiln(const std::string& what, const std::string& name);

// "Ludwig's encoder 'bert' is not available in Kiln: <why>", or "" (see not_in_kiln).
std::string not_in_kiln_message(const std::string& what, const std::string& name);

}  // namespace kiln
