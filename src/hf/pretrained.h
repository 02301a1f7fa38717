#pragma once
// Pretrained Hugging Face models read from LOCAL files only (Kiln never downloads anything): a
// model directory (config.json, model.safetensors or a sharded index, vocab.txt,
// tokenizer_config.json), found as a path or as a model name in the Hugging Face cache.
#include <torch/types.h>

#include <map>
#include <string>
#include <vector>

namespace kiln {

// The directory of `name_or_path`: the path itself when it is a directory, else the snapshot of
// the model in the Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, else
// $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub: models--<org>--<name>/snapshots/
// <the revision refs/main names, or the only one>). Throws DataError naming `who` and every place
// looked at when there is none.
std::string find_pretrained_dir(const std::string& name_or_path, const std::string& who);

// Every tensor of a safetensors file (F32, F16, BF16, F64, I64, I32 stored; floats returned as
// float32), by name. Throws ModelError naming the file for a malformed one.
std::map<std::string, torch::Tensor> read_safetensors(const std::string& file);

// The weights of a model directory: model.safetensors, or the shards model.safetensors.index.json
// lists. Throws ModelError when the directory has only PyTorch pickles (pytorch_model.bin).
std::map<std::string, torch::Tensor> read_pretrained_weights(const std::string& dir);

}  // namespace kiln
