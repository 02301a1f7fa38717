#include "config/ludwig_compat.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "config/schema.h"
#include "config/yaml_io.h"
#include "util/error.h"
#include "util/strings.h"

namespace kiln {
namespace {

// ---- names Ludwig has and Kiln does not ---------------------------------------------------------

const char* kHfText =
    "Kiln's pretrained text encoders are bert, distilbert and auto_transformer (for BERT and DistilBERT "
    "models, read from local files); or use transformer, parallel_cnn, stacked_cnn, rnn or embed, trained from scratch";
const char* kPretrainedImage =
    "pretrained image encoders are not built in (Kiln never downloads weights); use stacked_cnn, "
    "resnet or mlp_mixer, trained from scratch";
const char* kStateSpace = "Kiln's state-space encoders are mamba2 and jamba (Ludwig's approximations); use one of them";
const char* kAudio = "audio features are not supported by Kiln";
const char* kSegmentation = "image outputs (segmentation) are not built in";
const char* kLanguage =
    "the spaCy language tokenizers are not built in; use space_punct, space, characters, "
    "ngram or sentencepiece";
const char* kHfTokenizer =
    "Kiln's pretrained tokenizer is hf_tokenizer (BERT's WordPiece, from a local model directory); or use "
    "sentencepiece, trained on the training split";
const char* kOptimizer =
    "Kiln has adam, adamw, sgd, rmsprop, adagrad, adadelta, adamax, nadam, radam, lbfgs, adafactor, muon and "
    "schedule_free_adamw";

using Table = std::map<std::string, std::map<std::string, std::string>>;

const Table& ludwig_only() {
  static const Table t = [] {
    Table t;
    for (const char* n : {"roberta", "gpt", "gpt2", "t5", "mt5", "xlnet", "electra",
                          "albert", "xlmroberta", "longformer", "camembert", "flaubert", "ctrl",
                          "transformer_xl", "deberta", "modernbert", "xlm", "llm"})
      t["encoder"][n] = kHfText;
    for (const char* n : {"vit", "clip", "siglip", "dinov2", "efficientnet", "convnext", "convnextv2",
                          "alexnet", "vgg", "densenet", "googlenet", "inceptionv3", "mobilenetv2",
                          "mobilenetv3", "mnasnet", "regnet", "shufflenet_v2", "squeezenet",
                          "swin_transformer", "wide_resnet", "resnext", "maxvit", "timm", "caformer",
                          "convformer", "poolformer"})
      t["encoder"][n] = kPretrainedImage;
    t["encoder"]["mamba"] = kStateSpace;
    for (const char* n : {"hubert", "wav2vec2", "whisper"}) t["encoder"][n] = kAudio;
    t["encoder"]["unet"] = kSegmentation;
    for (const char* n : {"bins", "periodic", "ple"})
      t["encoder"][n] = "number embeddings (bins, periodic, piecewise linear) are not built in; use passthrough or dense";
    for (const char* n : {"hash", "target"})
      t["encoder"][n] = "hashed and target-encoded categories are not built in; use dense, sparse or onehot";
    t["encoder"]["wave"] = "the wave date encoder is not built in; use embed";
    t["encoder"]["weighted_sum"] = "h3 features are not supported by Kiln";

    for (const char* n : {"unet", "fpn", "segformer"}) t["decoder"][n] = kSegmentation;
    for (const char* n : {"category_extractor", "text_extractor", "transformer_generator"})
      t["decoder"][n] = "decoders for LLM outputs are not built in";

    for (const char* n : {"perceiver", "cross_attention", "gated_fusion"})
      t["combiner"][n] = "Kiln has concat, sequence, sequence_concat, transformer, tabtransformer, "
                         "ft_transformer, tabnet, comparator, project_aggregate and hypernetwork";
    t["combiner"]["tabpfn_v2"] = "pretrained TabPFN weights are not built in (Kiln never downloads weights)";

    for (const char* n : {"lamb", "lars", "lion", "soap", "paged_adam", "paged_adamw", "paged_lion", "adam_8bit", "adamw_8bit",
                          "adagrad_8bit", "lamb_8bit", "lars_8bit", "lion_8bit", "paged_adam_8bit",
                          "paged_adamw_8bit", "paged_lion_8bit", "rmsprop_8bit", "sgd_8bit"})
      t["optimizer"][n] = kOptimizer;

    t["feature type"]["audio"] = kAudio;
    t["feature type"]["h3"] = "h3 features are not supported by Kiln";
    t["feature type"]["category_distribution"] = "category_distribution outputs are not built in";
    t["output type"]["image"] = kSegmentation;

    for (const char* lang : {"english", "italian", "spanish", "german", "french", "portuguese", "dutch",
                             "greek", "norwegian", "lithuanian", "danish", "polish", "romanian",
                             "japanese", "chinese", "multi"})
      for (const char* kind : {"_tokenize", "_tokenize_filter", "_tokenize_remove_stopwords", "_lemmatize",
                               "_lemmatize_filter", "_lemmatize_remove_stopwords"})
        t["tokenizer"][std::string(lang) + kind] = kLanguage;
    for (const char* n : {"bert", "clip", "gpt2bpe"}) t["tokenizer"][n] = kHfTokenizer;

    for (const char* n : {"focal", "dice", "lovasz_softmax", "ntxent", "poly", "sparsemax", "corn",
                          "next_token_softmax_cross_entropy", "mean_absolute_percentage_error",
                          "root_mean_squared_percentage_error"})
      t["loss"][n] = "this loss is not built in";

    for (const char* n : {"gp", "cmaes", "qmc", "nsgaii", "nsgaiii", "bruteforce"})
      t["sampler"][n] = "Kiln's samplers are tpe (also for auto) and random";
    for (const char* n : {"median", "percentile", "successive_halving", "threshold", "patient", "wilcoxon"})
      t["pruner"][n] = "Kiln stops weak trials early with hyperband (its async_hyperband scheduler)";
    t["model type"]["llm"] = "LLM fine-tuning is not part of Kiln";
    t["model type"]["gbm"] = "gradient-boosted tree models are not built in yet";

    const char* dist = "distributed training and its settings are not built in";
    t["key"]["trainer.gradient_accumulation_steps"] = "gradient accumulation is not built in; raise batch_size instead";
    t["key"]["trainer.compile"] = "torch.compile is Python-only";
    t["key"]["trainer.use_ema"] = "weight averaging (EMA) is not built in";
    t["key"]["trainer.skip_all_evaluation"] = "every epoch is evaluated";
    t["key"]["trainer.bucketing_field"] = "length bucketing is not built in";
    t["key"]["trainer.layers_to_freeze_regex"] = "pretrained encoders are frozen or trained whole (their trainable key)";
    t["key"]["input_features[].encoder.adapter"] = "adapters (LoRA and others) are not built in; use trainable: true or false";
    t["key"]["trainer.learning_rate_scaling"] = dist;
    t["key"]["trainer.effective_batch_size"] = dist;
    t["key"]["preprocessing.global_max_sequence_length"] = "each feature's max_sequence_length applies";
    t["key"]["output_features[].class_similarities"] = "class similarity losses are not built in";
    t["key"]["output_features[].reduce_dependencies"] = "output dependencies are not built in";
    t["key"]["backend.trainer"] = dist;
    return t;
  }();
  return t;
}

// ---- upgrades and keys without effect -----------------------------------------------------------

// A key Ludwig accepts and Kiln reads without effect, and why.
struct Ignored {
  const char* key;
  const char* why;
};

// Scope names: "trainer", "optimizer", "combiner", "input feature", "output feature",
// "encoder", "conv layer", "image preprocessing", "text preprocessing", "preprocessing".
const std::map<std::string, std::vector<Ignored>>& ignored_keys() {
  static const std::map<std::string, std::vector<Ignored>> t = {
      {"trainer",
       {{"max_batch_size", "it bounds Ludwig's batch-size tuning (batch_size: auto), which Kiln does not do"},
        {"checkpoints_per_epoch", "Kiln checkpoints once per epoch"},
        {"steps_per_checkpoint", "Kiln checkpoints once per epoch"},
        {"increase_batch_size_on_plateau", "Ludwig removed batch-size increases on plateau"},
        {"increase_batch_size_on_plateau_max", "Ludwig removed batch-size increases on plateau"},
        {"increase_batch_size_on_plateau_patience", "Ludwig removed batch-size increases on plateau"},
        {"increase_batch_size_on_plateau_rate", "Ludwig removed batch-size increases on plateau"},
        {"increase_batch_size_eval_metric", "Ludwig removed batch-size increases on plateau"},
        {"increase_batch_size_eval_split", "Ludwig removed batch-size increases on plateau"},
        {"enable_profiling", "Kiln does not profile training"},
        {"profiler", "Kiln does not profile training"},
        {"enable_gradient_checkpointing", "Kiln's models are small enough to keep their activations"},
        {"eval_steps", "Kiln evaluates once per epoch"},
        {"shuffle_buffer_size", "Ludwig 0.4's key; Kiln shuffles the whole training split every epoch"},
        {"bucketing_field", "Kiln pads each batch to its longest row already"}}},
      {"optimizer", {{"lr", "Ludwig reads the learning rate from trainer.learning_rate"}}},
      {"learning_rate_scheduler",
       {{"type", "Ludwig chooses the schedule with decay (e.g. decay: cosine) and ignores type"}}},
      {"tabnet combiner",
       {{"num_fc_layers", "Ludwig's TabNet combiner has no fully connected layers (a Ludwig 0.4 key)"},
        {"fc_size", "Ludwig's TabNet combiner has no fully connected layers (a Ludwig 0.4 key)"}}},
      {"combiner",
       {{"fc_size", "Ludwig 0.4's name, which Ludwig ignores since 0.5 (the layer width is output_size)"},
        {"bn_virtual_divider", "Ludwig 0.4's TabNet key, which Ludwig ignores since 0.5 (use bn_virtual_bs)"},
        {"use_keras_batch_norm", "Ludwig 0.4's TabNet key, which Ludwig ignores since 0.5"}}},
      {"output feature",
       {{"weight_regularization", "Ludwig removed per-output regularization in 0.5 (use trainer.regularization_lambda)"}}},
      {"timeseries input",
       {{"window_size", "Ludwig reads the window from preprocessing.window_size; each row's series is read as written"}}},
      {"timeseries output",
       {{"window_size", "Ludwig reads the horizon from preprocessing.horizon; each row's target series is read as written"},
        {"horizon", "Ludwig sets it from preprocessing.horizon (else the longest training series)"}}},
      {"encoder",
       {{"trainable", "it applies to pretrained encoders (bert, distilbert, auto_transformer), and this one is trained from scratch"},
        {"use_pretrained", "it applies to pretrained encoders (bert, distilbert, auto_transformer), and this one is trained from scratch"},
        {"pretrained_kwargs", "Kiln builds a pretrained model as its config.json describes"},
        {"saved_weights_in_checkpoint", "Kiln saves every weight in the model directory and reads pretrained weights only when training starts"},
        {"gradient_checkpointing", "Kiln keeps the activations (no recomputation)"},
        {"classifier_dropout", "a Hugging Face task head's dropout, which the encoder does not use"},
        {"qa_dropout", "a Hugging Face task head's dropout, which the encoder does not use"},
        {"seq_classif_dropout", "a Hugging Face task head's dropout, which the encoder does not use"},
        {"vocab", "a pretrained encoder's vocabulary is its tokenizer's"}}},
      {"conv layer",
       {{"num_filters", "Ludwig 0.4's name, which Ludwig ignores in conv_layers since 0.5 (use out_channels)"},
        {"filter_size", "Ludwig 0.4's name, which Ludwig ignores in conv_layers since 0.5 (use kernel_size)"},
        {"pool_size", "Ludwig 0.4's name, which Ludwig ignores in conv_layers since 0.5 (use pool_kernel_size)"}}},
      {"image preprocessing",
       {{"num_processes", "Kiln decodes images on trainer.threads"},
        {"resize_image", "Ludwig 0.4's key: Kiln resizes every image to height x width"},
        {"requires_equal_dimensions", "Kiln resizes every image to one size"}}},
      {"text preprocessing",
       {{"cache_encoder_embeddings", "Kiln runs a frozen pretrained encoder on every batch"}}},
      {"decoder",
       {{"mc_dropout_samples",
         "Ludwig stores it, but its predict and evaluate never run the passes (only its Python API's mc_forward does), "
         "and Kiln has no MC dropout"}}},
      {"executor",
       {{"storage", "Kiln's trial store is <output_directory>/hyperopt.sqlite, from which --resume continues a study"},
        {"study_name", "a study is its output directory"}}},
  };
  return t;
}

bool is_feature_type(const std::string& t) {
  static const std::set<std::string> types = {"binary", "category", "number", "numerical", "set",
                                              "bag", "text", "sequence", "timeseries", "image",
                                              "audio", "date", "h3", "vector", "anomaly"};
  return types.count(t) > 0;
}

// Ludwig's feature-level keys; any other key of a feature is an encoder (decoder) option, which
// Ludwig 0.6 moved under `encoder:` (`decoder:`).
const std::set<std::string>& ludwig_input_keys() {
  static const std::set<std::string> k = {"name", "type", "column", "proc_column", "tied",
                                          "preprocessing", "encoder", "augmentation"};
  return k;
}
const std::set<std::string>& ludwig_output_keys() {
  static const std::set<std::string> k = {
      "name", "type", "column", "proc_column", "decoder", "loss", "preprocessing", "reduce_input",
      "reduce_dependencies", "dependencies", "threshold", "threshold_percentile", "top_k", "calibration",
      "default_validation_metric", "class_similarities", "num_classes", "input_size"};
  return k;
}

struct Upgrader {
  std::string file;
  std::vector<std::string> out;

  void note(const YAML::Node& at, const std::string& path, const std::string& msg) {
    out.push_back(yaml_where(file, at) + ": " + path + ": " + msg);
  }
  static std::string child(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }
  static YAML::Node get(const YAML::Node& m, const std::string& key) {
    if (!m.IsMap()) return YAML::Node();
    const YAML::Node& cm = m;
    return cm[key];
  }
  // The key's own node (its line), for a warning about the key.
  static YAML::Node key_node(const YAML::Node& m, const std::string& key) {
    if (m.IsMap())
      for (auto it = m.begin(); it != m.end(); ++it)
        if (it->first.IsScalar() && it->first.Scalar() == key) return it->first;
    return m;
  }
  static std::vector<std::string> keys(const YAML::Node& m) {
    std::vector<std::string> k;
    if (m.IsMap())
      for (auto it = m.begin(); it != m.end(); ++it)
        if (it->first.IsScalar()) k.push_back(it->first.Scalar());
    return k;
  }
  // m[key], made an empty mapping when missing (a value already written is returned as it is).
  static YAML::Node map_at(YAML::Node& m, const std::string& key) {
    if (!get(m, key)) m[key] = YAML::Node(YAML::NodeType::Map);
    return get(m, key);
  }
  static bool is(const YAML::Node& n, const char* scalar) { return n && n.IsScalar() && n.Scalar() == scalar; }

  // map[from] becomes map[to]; when map[to] is already written, map[from] is dropped.
  void move(YAML::Node& m, const std::string& path, const std::string& from, const std::string& to,
            const std::string& since) {
    YAML::Node v = get(m, from);
    if (!v) return;
    const YAML::Node at = key_node(m, from);
    if (get(m, to)) {
      note(at, child(path, from), "Ludwig's older name for " + to + " (" + since + "); " + to +
                                      " is also written, so this one is ignored");
    } else {
      m[to] = v;
      note(at, child(path, from), "read as " + child(path, to) + " (renamed in " + since + ")");
    }
    m.remove(from);
  }

  // `keep`: keys the Kiln component declares (a resnet's trainable has an effect).
  void drop_ignored(YAML::Node& m, const std::string& path, const std::string& scope,
                    const std::set<std::string>& keep = {}) {
    if (!m.IsMap()) return;
    auto it = ignored_keys().find(scope);
    if (it == ignored_keys().end()) return;
    for (const auto& ig : it->second) {
      if (!get(m, ig.key) || keep.count(ig.key)) continue;
      note(key_node(m, ig.key), child(path, ig.key), std::string("has no effect in Kiln and is ignored: ") + ig.why);
      m.remove(ig.key);
    }
  }

  // `encoder: bert` → `encoder: {type: bert}`.
  void typed(YAML::Node& m, const std::string& path, const std::string& key, const std::string& since) {
    YAML::Node v = get(m, key);
    if (!v || !v.IsScalar()) return;
    YAML::Node t(YAML::NodeType::Map);
    t["type"] = v;
    note(v, child(path, key), "read as {type: " + v.Scalar() + "} (" + since + ")");
    m.remove(key);  // then a new entry: assigning to the old one would rebind the node `type` holds
    m[key] = t;
  }

  void run(YAML::Node& root) {
    if (!root.IsMap()) return;
    apply_preset(root);
    move(root, "", "training", "trainer", "Ludwig 0.5");
    upgrade_trainer(root);
    upgrade_preprocessing(root);
    upgrade_defaults(root);
    typed(root, "", "combiner", "Ludwig 0.5");
    if (YAML::Node c = get(root, "combiner")) {
      drop_ignored(c, "combiner", "combiner");
      if (is(get(c, "type"), "tabnet")) drop_ignored(c, "combiner", "tabnet combiner");
    }
    for (const char* list : {"input_features", "output_features"}) {
      YAML::Node l = get(root, list);
      if (!l || !l.IsSequence()) continue;
      const bool output = std::string(list) == "output_features";
      for (size_t i = 0; i < l.size(); ++i) {
        YAML::Node f = l[i];
        if (f.IsMap()) upgrade_feature(f, std::string(list) + "[" + std::to_string(i) + "]", output);
      }
    }
    rename_inputs_named_as_outputs(root);
    upgrade_hyperopt(root);
  }

  // Ludwig's quality presets (ludwig/presets.py): a preset's settings are the base, and what the
  // config writes wins. Unlike Ludwig's plain dictionary merge, a combiner or optimizer of another
  // type than the preset's takes none of the preset's options for it (they would not be its keys).
  void apply_preset(YAML::Node& root) {
    YAML::Node p = get(root, "preset");
    if (!p) return;
    static const std::map<std::string, std::string> presets = {
        {"medium_quality",
         "{combiner: {type: concat, num_fc_layers: 2, output_size: 128}, trainer: {epochs: 50, early_stop: 5, "
         "batch_size: 256}}"},
        {"high_quality",
         "{combiner: {type: transformer, num_layers: 2, hidden_size: 256, num_heads: 8}, trainer: {epochs: 100, "
         "early_stop: 10, batch_size: 128, loss_balancing: uncertainty}}"},
        {"best_quality",
         "{combiner: {type: ft_transformer, num_layers: 4, hidden_size: 256, num_heads: 8}, trainer: {epochs: 200, "
         "early_stop: 20, batch_size: 64, loss_balancing: uncertainty, model_soup: uniform, model_soup_top_k: 5}}"},
        {"tabular_realmlp",
         "{combiner: {type: concat, num_fc_layers: 4, output_size: 256, dropout: 0.15}, defaults: {number: "
         "{preprocessing: {normalization: iq}}}, trainer: {epochs: 300, early_stop: 40, batch_size: 256, "
         "learning_rate: 0.0005, optimizer: {type: adamw, weight_decay: 0.01}, learning_rate_scheduler: {decay: "
         "cosine}}}"}};
    const YAML::Node at = key_node(root, "preset");
    if (!p.IsScalar() || !presets.count(p.Scalar())) {
      std::vector<std::string> names;
      for (const auto& [n, _] : presets) names.push_back(n);
      throw ConfigError(yaml_where(file, p) + ": preset: expected one of Ludwig's presets " + join(names, ", ") +
                        "; got " + scalar_text(p));
    }
    const std::string name = p.Scalar();
    const YAML::Node base = YAML::Load(presets.at(name));
    std::vector<std::string> set;
    std::function<void(const YAML::Node&, YAML::Node, const std::string&)> merge =
        [&](const YAML::Node& from, YAML::Node to, const std::string& path) {
          if (YAML::Node t = get(to, "type"); t && get(from, "type") && t.IsScalar() && t.Scalar() != get(from, "type").Scalar())
            return;  // another combiner / optimizer than the preset's
          for (auto it = from.begin(); it != from.end(); ++it) {
            const std::string k = it->first.Scalar();
            YAML::Node mine = get(to, k);
            if (mine && mine.IsMap() && it->second.IsMap()) {
              merge(it->second, mine, child(path, k));
            } else if (!mine) {
              to[k] = YAML::Clone(it->second);
              set.push_back(child(path, k));
            }
          }
        };
    merge(base, root, "");
    note(at, "preset", "Ludwig's preset '" + name + "' sets what the config does not: " + join(set, ", "));
    root.remove("preset");
  }

  // Ludwig allows an input and an output of the same name (forecasting a column from its own past:
  // both read the column). Kiln keys features by name, so the input is renamed <name>_input (then
  // _input2, ...), its column and the `tied` keys naming it kept.
  void rename_inputs_named_as_outputs(YAML::Node& root) {
    YAML::Node ins = get(root, "input_features"), outs = get(root, "output_features");
    if (!ins || !ins.IsSequence() || !outs || !outs.IsSequence()) return;
    std::set<std::string> taken, outputs;
    for (const YAML::Node* l : {&ins, &outs})
      for (size_t i = 0; i < l->size(); ++i)
        if (YAML::Node n = get((*l)[i], "name"); n && n.IsScalar()) taken.insert(n.Scalar());
    for (size_t i = 0; i < outs.size(); ++i)
      if (YAML::Node n = get(outs[i], "name"); n && n.IsScalar()) outputs.insert(n.Scalar());
    for (size_t i = 0; i < ins.size(); ++i) {
      YAML::Node f = ins[i];
      YAML::Node n = get(f, "name");
      if (!n || !n.IsScalar() || !outputs.count(n.Scalar())) continue;
      const std::string old = n.Scalar();
      std::string now = old + "_input";
      for (int k = 2; taken.count(now); ++k) now = old + "_input" + std::to_string(k);
      taken.insert(now);
      if (!get(f, "column")) f["column"] = old;
      note(n, "input_features[" + std::to_string(i) + "].name",
           "'" + old + "' is also an output feature's name; Kiln keys features by name, so this input is named '" + now +
               "' (its column stays " + scalar_text(get(f, "column")) + ")");
      f["name"] = now;
      for (size_t j = 0; j < ins.size(); ++j) {
        YAML::Node other = ins[j];
        if (YAML::Node t = get(other, "tied"); t && t.IsScalar() && t.Scalar() == old) other["tied"] = now;
      }
    }
  }

  void upgrade_trainer(YAML::Node& root) {
    YAML::Node t = get(root, "trainer");
    if (!t || !t.IsMap()) return;
    if (YAML::Node ty = get(t, "type"); ty && !is(ty, "trainer")) {
      note(key_node(t, "type"), "trainer.type", "has no effect and is ignored (Ludwig 0.6 removed it: model_type chooses the trainer)");
      t.remove("type");
    }
    for (const char* k : {"batch_size", "eval_batch_size"}) {
      YAML::Node v = get(t, k);
      if (!v || !v.IsScalar()) continue;
      if (v.Scalar() == "auto") {
        note(v, std::string("trainer.") + k, std::string("Kiln does not tune the batch size; ") +
                                                   (std::string(k) == "batch_size" ? "the default 128 is used" : "batch_size is used"));
        t.remove(k);
      } else if (std::string(k) == "eval_batch_size" && (v.Scalar() == "0")) {
        note(v, "trainer.eval_batch_size", "0 read as unset: batch_size is used (Ludwig 0.5)");
        t.remove(k);
      }
    }
    // Ludwig 0.7 moved the learning-rate schedule into trainer.learning_rate_scheduler.
    static const std::vector<std::pair<const char*, const char*>> lr = {
        {"reduce_learning_rate_on_plateau", "reduce_on_plateau"},
        {"reduce_learning_rate_on_plateau_patience", "reduce_on_plateau_patience"},
        {"reduce_learning_rate_on_plateau_rate", "reduce_on_plateau_rate"},
        {"reduce_learning_rate_eval_metric", "reduce_eval_metric"},
        {"reduce_learning_rate_eval_split", "reduce_eval_split"},
        {"decay", "decay"},
        {"decay_steps", "decay_steps"},
        {"decay_rate", "decay_rate"},
        {"staircase", "staircase"},
        {"learning_rate_warmup_epochs", "warmup_evaluations"}};
    for (const auto& [from, to] : lr) {
      YAML::Node v = get(t, from);
      if (!v) continue;
      YAML::Node s = map_at(t, "learning_rate_scheduler");
      if (!s.IsMap()) continue;  // reported by the reader
      const std::string path = std::string("trainer.") + from;
      if (get(s, to)) {
        note(key_node(t, from), path, std::string("Ludwig's older place for learning_rate_scheduler.") + to +
                                          ", which is also written, so this one is ignored");
      } else {
        YAML::Node value = v;
        if (std::string(from) == "decay" && v.IsScalar() && (v.Scalar() == "true" || v.Scalar() == "false" ||
                                                             v.Scalar() == "True" || v.Scalar() == "False"))
          value.reset(YAML::Node(v.Scalar()[0] == 't' || v.Scalar()[0] == 'T' ? "exponential" : "none"));
        else if (std::string(from) == "reduce_learning_rate_on_plateau" && v.IsScalar() &&
                 (v.Scalar() == "true" || v.Scalar() == "false"))
          value.reset(YAML::Node(v.Scalar() == "true" ? 1 : 0));
        s[to] = value;
        note(key_node(t, from), path, std::string("read as trainer.learning_rate_scheduler.") + to + " (Ludwig 0.7)");
      }
      t.remove(from);
    }
    drop_ignored(t, "trainer", "trainer");
    if (YAML::Node s = get(t, "learning_rate_scheduler"))
      drop_ignored(s, "trainer.learning_rate_scheduler", "learning_rate_scheduler");
    typed(t, "trainer", "optimizer", "Ludwig 0.5");
    if (YAML::Node o = get(t, "optimizer")) drop_ignored(o, "trainer.optimizer", "optimizer");
  }

  void upgrade_preprocessing(YAML::Node& root) {
    YAML::Node p = get(root, "preprocessing");
    if (!p || !p.IsMap()) return;
    // Ludwig 0.5: per-type preprocessing moved to defaults.<type>.preprocessing.
    for (const std::string& k : keys(p)) {
      if (!is_feature_type(k)) continue;
      const std::string type = k == "numerical" ? "number" : k;
      YAML::Node v = get(p, k);
      if (YAML::Node inner = get(v, "preprocessing")) v = inner;
      YAML::Node d = map_at(root, "defaults");
      if (!d.IsMap()) continue;
      YAML::Node dt = map_at(d, type);
      if (!dt.IsMap()) continue;
      if (YAML::Node dp = get(dt, "preprocessing"); dp && dp.IsMap() && v.IsMap()) {
        for (const std::string& pk : keys(v))
          if (!get(dp, pk)) dp[pk] = get(v, pk);
      } else if (!dp) {
        dt["preprocessing"] = v;
      }
      note(key_node(p, k), "preprocessing." + k, "read as defaults." + type + ".preprocessing (Ludwig 0.5)");
      p.remove(k);
    }
    // Ludwig 0.5: the split's keys moved under preprocessing.split.
    YAML::Node force = get(p, "force_split"), probs = get(p, "split_probabilities"), strat = get(p, "stratify");
    if (force || probs || strat) {
      YAML::Node s = map_at(p, "split");
      if (!s.IsMap()) return;
      if (probs) {
        if (!get(s, "probabilities")) s["probabilities"] = probs;
        note(key_node(p, "split_probabilities"), "preprocessing.split_probabilities",
             "read as preprocessing.split.probabilities (Ludwig 0.5)");
        p.remove("split_probabilities");
      }
      if (strat) {
        if (!get(s, "type")) s["type"] = "stratify";
        if (!get(s, "column")) s["column"] = strat;
        note(key_node(p, "stratify"), "preprocessing.stratify",
             "read as preprocessing.split: {type: stratify, column: " + scalar_text(strat) + "} (Ludwig 0.5)");
        p.remove("stratify");
      }
      if (force) {
        if (!get(s, "type")) s["type"] = "random";
        note(key_node(p, "force_split"), "preprocessing.force_split",
             "read as preprocessing.split.type (Ludwig 0.5)");
        p.remove("force_split");
      }
    }
  }

  void upgrade_defaults(YAML::Node& root) {
    YAML::Node d = get(root, "defaults");
    if (!d || !d.IsMap()) return;
    if (get(d, "numerical")) move(d, "defaults", "numerical", "number", "Ludwig 0.5");
    for (const std::string& type : keys(d)) {
      YAML::Node dt = get(d, type);
      if (!dt.IsMap()) continue;
      if (get(dt, "type")) {
        note(key_node(dt, "type"), "defaults." + type + ".type", "has no effect and is ignored (Ludwig 0.7.3)");
        dt.remove("type");
      }
      typed(dt, "defaults." + type, "encoder", "Ludwig 0.6");
      typed(dt, "defaults." + type, "decoder", "Ludwig 0.6");
      upgrade_feature_preprocessing(dt, "defaults." + type, type);
      if (YAML::Node e = get(dt, "encoder")) upgrade_encoder(e, "defaults." + type + ".encoder", type);
      if (YAML::Node dec = get(dt, "decoder")) upgrade_decoder(dec, "defaults." + type + ".decoder", type);
    }
  }

  void upgrade_feature_preprocessing(YAML::Node& f, const std::string& path, const std::string& type) {
    YAML::Node p = get(f, "preprocessing");
    if (!p || !p.IsMap()) return;
    const std::string pp = path + ".preprocessing";
    // Ludwig 0.4: word_ / char_ prefixed sequence preprocessing keys.
    static const std::vector<std::pair<const char*, const char*>> renames = {
        {"sequence_length_limit", "max_sequence_length"}, {"word_most_common", "most_common"},
        {"word_sequence_length_limit", "max_sequence_length"}, {"word_tokenizer", "tokenizer"},
        {"word_vocab_file", "vocab_file"}, {"char_most_common", "most_common"},
        {"char_sequence_length_limit", "max_sequence_length"}, {"char_tokenizer", "tokenizer"},
        {"char_vocab_file", "vocab_file"}};
    for (const auto& [from, to] : renames) move(p, pp, from, to, "Ludwig 0.4");
    // Ludwig 0.6: pandas' old fill names.
    if (YAML::Node m = get(p, "missing_value_strategy"); m && m.IsScalar() && (m.Scalar() == "backfill" || m.Scalar() == "pad")) {
      const std::string now = m.Scalar() == "backfill" ? "bfill" : "ffill";
      note(m, pp + ".missing_value_strategy", "'" + m.Scalar() + "' read as '" + now + "' (Ludwig 0.6; the same strategy)");
      p["missing_value_strategy"] = now;
    }
    if (type == "image") drop_ignored(p, pp, "image preprocessing");
    if (type == "text" || type == "sequence") drop_ignored(p, pp, "text preprocessing");
  }

  // The option keys of the Kiln component a block names (its type, or the feature type's default).
  static std::set<std::string> declared(const Registry<ComponentSchema>& r, const YAML::Node& block,
                                        const std::string& feature_type, bool encoder) {
    std::set<std::string> out;
    std::string name;
    if (YAML::Node t = get(block, "type"); t && t.IsScalar()) name = t.Scalar();
    else if (const FeatureSchema* s = feature_schemas().find(feature_type))
      name = encoder ? s->default_encoder : s->default_decoder;
    if (const ComponentSchema* c = r.find(feature_type + "/" + name)) {
      DocVisitor d;
      c->make_options()->describe(d);
      for (const auto& it : d.items) out.insert(it.key);
    }
    return out;
  }

  void upgrade_encoder(YAML::Node& e, const std::string& path, const std::string& feature_type) {
    if (!e.IsMap()) return;
    drop_ignored(e, path, "encoder", declared(encoder_schemas(), e, feature_type, true));
    YAML::Node layers = get(e, "conv_layers");
    if (layers && layers.IsSequence())
      for (size_t i = 0; i < layers.size(); ++i) {
        YAML::Node l = layers[i];
        drop_ignored(l, path + ".conv_layers[" + std::to_string(i) + "]", "conv layer");
      }
  }

  void rename_bias(YAML::Node& m, const std::string& path) {
    if (!m.IsMap()) return;
    move(m, path, "bias", "use_bias", "Ludwig 0.5");
    move(m, path, "conv_bias", "conv_use_bias", "Ludwig 0.5");
    move(m, path, "default_bias", "default_use_bias", "Ludwig 0.5");
    for (const std::string& k : keys(m)) {
      YAML::Node v = get(m, k);
      if (v.IsMap()) rename_bias(v, child(path, k));
      if (v.IsSequence())
        for (size_t i = 0; i < v.size(); ++i) {
          YAML::Node x = v[i];
          rename_bias(x, child(path, k) + "[" + std::to_string(i) + "]");
        }
    }
  }

  void upgrade_feature(YAML::Node& f, const std::string& path, bool output) {
    if (YAML::Node t = get(f, "type"); is(t, "numerical")) {
      note(t, path + ".type", "'numerical' read as 'number' (Ludwig 0.5)");
      f["type"] = "number";
    }
    const std::string type = get(f, "type") && get(f, "type").IsScalar() ? get(f, "type").Scalar() : "";
    rename_bias(f, path);
    if (output) drop_ignored(f, path, "output feature");
    if (type == "timeseries") drop_ignored(f, path, output ? "timeseries output" : "timeseries input");
    upgrade_feature_preprocessing(f, path, type);
    const char* module = output ? "decoder" : "encoder";
    typed(f, path, module, "Ludwig 0.6");
    // Ludwig's older output-level `calibration: true` is its decoders' temperature scaling.
    if (YAML::Node cal = get(f, "calibration"); output && cal && cal.IsScalar()) {
      const YAML::Node at = key_node(f, "calibration");
      const bool on = cal.Scalar() == "true" || cal.Scalar() == "True";
      f.remove("calibration");
      if (on) {
        YAML::Node d = map_at(f, "decoder");
        d["calibration"] = "temperature_scaling";
        note(at, path + ".calibration", "read as decoder.calibration: temperature_scaling (Ludwig's decoder key since 0.8)");
      } else {
        note(at, path + ".calibration", "false: no calibration (Ludwig's older output-level key)");
      }
    }
    // Ludwig 0.6: encoder (decoder) options written at feature level move under encoder (decoder).
    const auto& own = output ? ludwig_output_keys() : ludwig_input_keys();
    std::vector<std::string> nested;
    for (const std::string& k : keys(f))
      if (!own.count(k)) nested.push_back(k);
    if (!nested.empty()) {
      YAML::Node m = map_at(f, module);
      if (!m.IsMap()) return;
      // A decoder's stack options carry an fc_ prefix (fc_output_size, fc_dropout, ...).
      static const std::set<std::string> fc = {"output_size", "activation", "norm", "norm_params", "dropout",
                                               "weights_initializer", "bias_initializer"};
      std::vector<std::string> moved;
      for (const auto& k : nested) {
        const std::string to = output && fc.count(k) ? "fc_" + k : k;
        // As in Ludwig, the value written at feature level wins over one already nested.
        if (get(m, to)) m.remove(to);
        m[to] = get(f, k);
        moved.push_back(k == to ? k : k + " as " + to);
      }
      note(key_node(f, nested[0]), path, std::string(module) + " options written at feature level (" +
                                             join(moved, ", ") + ") read under " + module + ": (Ludwig 0.6)");
      for (const auto& k : nested) f.remove(k);
    }
    if (!output)
      if (YAML::Node e = get(f, "encoder")) upgrade_encoder(e, path + ".encoder", type);
    if (output)
      if (YAML::Node d = get(f, "decoder")) upgrade_decoder(d, path + ".decoder", type);
  }

  // A decoder's fully connected stack takes fc_-prefixed keys since Ludwig 0.6 (fc_output_size,
  // fc_dropout, ...); the unprefixed ones are read as those when the decoder has no key of that name.
  void upgrade_decoder(YAML::Node& d, const std::string& path, const std::string& feature_type) {
    if (!d.IsMap()) return;
    const std::set<std::string> keys_of = declared(decoder_schemas(), d, feature_type, false);
    drop_ignored(d, path, "decoder", keys_of);
    for (const char* k : {"output_size", "activation", "norm", "dropout"}) {
      const std::string to = std::string("fc_") + k;
      if (get(d, k) && !keys_of.count(k) && keys_of.count(to)) move(d, path, k, to, "Ludwig 0.6");
    }
  }

  void upgrade_hyperopt(YAML::Node& root) {
    YAML::Node h = get(root, "hyperopt");
    if (!h) return;
    if (YAML::Node e = get(h, "executor"); e && e.IsMap()) drop_ignored(e, "hyperopt.executor", "executor");
    if (h.IsMap() && h.size() == 0) {
      note(key_node(root, "hyperopt"), "hyperopt", "an empty block read as no hyperopt (Ludwig 0.7)");
      root.remove("hyperopt");
      return;
    }
    YAML::Node p = get(h, "parameters");
    if (p && p.IsMap())
      for (const std::string& k : keys(p))
        if (k.rfind("training.", 0) == 0) {
          const std::string to = "trainer." + k.substr(9);
          note(key_node(p, k), "hyperopt.parameters." + k, "read as " + to + " (Ludwig 0.5)");
          p[to] = get(p, k);
          p.remove(k);
        }
  }
};

}  // namespace

std::vector<std::string> upgrade_ludwig_config(YAML::Node& root, const std::string& file) {
  Upgrader u{file, {}};
  u.run(root);
  return std::move(u.out);
}

std::string not_in_kiln(const std::string& what, const std::string& name) {
  const auto& t = ludwig_only();
  auto it = t.find(what);
  if (it == t.end()) return "";
  std::string key = name;
  if (what == "key") {  // list indexes are written []
    std::string k;
    for (size_t i = 0; i < name.size(); ++i) {
      if (name[i] == '[') {
        k += "[]";
        i = name.find(']', i);
        if (i == std::string::npos) break;
      } else {
        k += name[i];
      }
    }
    key = k;
  }
  auto jt = it->second.find(key);
  return jt == it->second.end() ? "" : jt->second;
}

std::string not_in_kiln_message(const std::string& what, const std::string& name) {
  const std::string why = not_in_kiln(what, name);
  if (why.empty()) return "";
  if (what == "key") {
    const size_t dot = name.rfind('.');
    return "Ludwig's key '" + (dot == std::string::npos ? name : name.substr(dot + 1)) +
           "' is not available in Kiln: " + why;
  }
  return "Ludwig's " + what + " '" + name + "' is not available in Kiln: " + why;
}

}  // namespace kiln
