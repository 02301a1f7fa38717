#include "util/json.h"  // first: configures RapidJSON
#include <rapidjson/document.h>

#include "model/ecd.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#include "features/feature.h"
#include "util/archive.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/named_tensors.h"
#include "util/tensor_bytes.h"

namespace kiln {

EcdModel::EcdModel(const Config& c, const MetadataMap& metadata) {
  std::vector<int64_t> sizes, steps;
  std::map<std::string, std::shared_ptr<EncoderBase>> owned;  // by feature name, untied features
  for (size_t i = 0; i < c.input_features.size(); ++i) {
    const auto& f = c.input_features[i];
    if (f.tied) continue;
    const auto* build = encoder_builders().find(f.type + "/" + f.encoder.type);
    if (!build) throw std::logic_error("no builder for encoder " + f.type + "/" + f.encoder.type);
    try {
      owned[f.name] = (*build)(*f.encoder.options, metadata.at(f.name));
    } catch (const ConfigError& e) {  // a setting that does not fit the data (image too small)
      throw ConfigError(c.file + ": input feature '" + f.name + "': " + e.what());
    }
    register_module("input" + std::to_string(i), owned[f.name]);  // feature names may hold '.'
  }
  for (size_t i = 0; i < c.input_features.size(); ++i) {
    const auto& f = c.input_features[i];
    std::shared_ptr<EncoderBase> enc = owned[f.tied ? *f.tied : f.name];
    if (f.tied) {  // the owner's encoder reads this feature's column: it must have the same shape
      const FeatureMetadata &a = metadata.at(f.name), &b = metadata.at(*f.tied);
      if (a.idx2str != b.idx2str || a.sequence_length != b.sequence_length || a.height != b.height ||
          a.width != b.width || a.channels != b.channels)
        throw ConfigError(c.file + ": input feature '" + f.name + "' is tied to '" + *f.tied +
                          "' but is preprocessed differently (vocabulary, sequence length or image size); a tied "
                          "feature must give the encoder the same shape of input");
      tied_.insert(f.name);
    }
    sizes.push_back(enc->output_size());
    steps.push_back(enc->output_steps());
    encoders_.emplace_back(f.name, enc);
    augmenters_.push_back(feature_kind(f.type).augmenter(f));
  }
  CombinerInputs inputs;
  inputs.sizes = sizes;
  inputs.steps = steps;
  for (const auto& f : c.input_features) inputs.names.push_back(f.name), inputs.types.push_back(f.type);
  try {
    combiner_ = (*combiner_builders().find(c.combiner.type))(*c.combiner.options, inputs);
  } catch (const ConfigError& e) {  // a setting that names features (comparator entities)
    throw ConfigError(c.file + ": " + e.what());
  }
  register_module("combiner", combiner_);
  for (size_t i = 0; i < c.output_features.size(); ++i) {
    const auto& f = c.output_features[i];
    const auto& m = metadata.at(f.name);
    int64_t n = output_kind(f.type).output_size(f, m);
    // A tagger reads a sequence-shaped combiner output ([B, T, H]) whose steps are the output's
    // tokens; every other decoder reads it reduced over the steps by the output's reduce_input.
    const bool tagger = f.decoder.type == "tagger";
    const int64_t steps = combiner_->output_steps();
    if (tagger && steps == 0)
      throw ConfigError(c.file + ": output feature '" + f.name + "': the tagger decoder labels every token, so the "
                        "combiner must keep the sequence: a text/sequence input whose encoder has reduce_output: "
                        "null, into the concat combiner (alone, without flatten_inputs), or sequence_concat or "
                        "sequence with reduce_output: null");
    if (tagger && steps != m.sequence_length)
      throw ConfigError(c.file + ": output feature '" + f.name + "': the tagger decoder needs one label per input "
                        "step, but the combiner's sequence has " + std::to_string(steps) + " steps and the output "
                        "has " + std::to_string(m.sequence_length) + " (give both features the same "
                        "preprocessing.max_sequence_length, and no pooling in the encoder)");
    const std::string reduce = !tagger && steps > 0 ? f.reduce_input : "";
    if (reduce == "none")
      throw ConfigError(c.file + ": output feature '" + f.name + "': the combiner keeps the sequence, which only a "
                        "tagger decoder reads as it is; give this " + f.type + " output a reduce_input (sum, mean, "
                        "max, last or concat)");
    const int64_t width = combiner_->output_size() * (reduce == "concat" ? steps : 1);
    auto dec = (*decoder_builders().find(f.type + "/" + f.decoder.type))(*f.decoder.options, width, n, m);
    register_module("output" + std::to_string(i), dec);
    decoders_.emplace_back(f.name, dec);
    reduce_inputs_.push_back(reduce);
  }
}

std::map<std::string, torch::Tensor> EcdModel::forward(const Batch& batch) {
  std::vector<torch::Tensor> encoded;
  encoded.reserve(encoders_.size());
  for (size_t i = 0; i < encoders_.size(); ++i) {
    const auto& x = batch.at(encoders_[i].first);
    const bool augment = is_training() && augmenters_[i];
    encoded.push_back(encoders_[i].second->forward(augment ? augmenters_[i](x) : x));
  }
  auto hidden = combiner_->forward(encoded);
  std::map<std::string, torch::Tensor> out;
  for (size_t k = 0; k < decoders_.size(); ++k) {
    const auto& [name, dec] = decoders_[k];
    const auto h = reduce_inputs_[k].empty() ? hidden : reduce_steps(hidden, reduce_inputs_[k]);
    auto target = batch.find(name);
    out[name] = is_training() && target != batch.end() ? dec->forward_teacher(h, target->second) : dec->forward(h);
  }
  return out;
}

int64_t EcdModel::num_parameters(bool trainable_only) const {
  int64_t n = 0;
  for (const auto& p : parameters())
    if (!trainable_only || p.requires_grad()) n += p.numel();
  return n;
}

DecoderBase* EcdModel::decoder(const std::string& output) {
  for (auto& [name, dec] : decoders_)
    if (name == output) return dec.get();
  return nullptr;
}

void EcdModel::init_pretrained() {
  for (auto& [name, enc] : encoders_)
    if (!tied_.count(name)) enc->init_pretrained();
}

std::vector<std::pair<std::string, torch::Tensor>> EcdModel::named_state() {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  auto add = [&](const std::string& prefix, const torch::nn::Module& m) {
    for (const auto& p : m.named_parameters(true)) out.emplace_back(prefix + "/" + p.key(), p.value());
    for (const auto& b : m.named_buffers(true)) out.emplace_back(prefix + "/" + b.key(), b.value());
  };
  for (const auto& [name, enc] : encoders_)
    if (!tied_.count(name)) add("input_features/" + name, *enc);  // a tied one is its owner's
  add("combiner", *combiner_);
  for (const auto& [name, dec] : decoders_) add("output_features/" + name, *dec);
  if (out.size() != named_parameters(true).size() + named_buffers(true).size())
    throw std::logic_error("EcdModel holds tensors outside its encoders, combiner and decoders");
  return out;
}

void write_state(EcdModel& model, torch::serialize::OutputArchive& ar) {
  write_named_tensors(ar, model.named_state());
}

void read_state(EcdModel& model, torch::serialize::InputArchive& ar, const std::string& file) {
  if (!has_named_tensors(ar)) {
    model.load(ar);  // before model format 1: torch's module layout ("input0.fc.0.weight", ...)
    return;
  }
  read_named_tensors(ar, model.named_state(), file, "another config");
}

void save_weights(EcdModel& model, const std::string& path) {
  torch::serialize::OutputArchive ar;
  write_state(model, ar);
  save_archive(ar, path);
}

void load_weights(EcdModel& model, const std::string& path) {
  if (!file_exists(path)) throw ModelError(path + ": weights file not found");
  try {
    torch::serialize::InputArchive ar;
    ar.load_from(path);
    read_state(model, ar, path);
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    throw ModelError(path + ": corrupt or incompatible weights file (" +
                     msg.substr(0, msg.find('\n')) + ")");
  }
}

}  // namespace kiln
