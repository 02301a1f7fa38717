#pragma once
// Tensors stored by name in a torch archive (model format 1, docs/MODEL_FORMAT.md): the key
// "tensor_names" holds a JSON array of names and "t<i>" the i-th tensor. torch's own archive keys
// cannot hold the '/' and '.' of component paths, hence the list.
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <string>
#include <utility>
#include <vector>

namespace kiln {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

void write_named_tensors(torch::serialize::OutputArchive& ar, const NamedTensors& tensors);
// Whether the archive holds named tensors (else it predates model format 1).
bool has_named_tensors(torch::serialize::InputArchive& ar);
// Copies each saved tensor into the target of the same name. Throws ModelError naming `file` for
// a target the archive lacks ("no tensor 'x' (...)"), a saved tensor with no target ("unexpected
// tensor 'x' (...)") or a shape that differs; `written_for` ends those messages, saying what
// the archive was written for ("another config").
void read_named_tensors(torch::serialize::InputArchive& ar, const NamedTensors& targets, const std::string& file,
                        const std::string& written_for);

}  // namespace kiln
