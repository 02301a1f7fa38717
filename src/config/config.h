#pragma once
// The typed config: Ludwig's YAML schema (the subset Kiln implements), every key with Ludwig's
// default. Parsing fills defaults, checks types and unknown keys (file:line:col, nearest valid
// name), reports every error together, then runs named cross-field checks.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/hyperopt_spec.h"
#include "config/schema.h"
#include "config/yaml_io.h"
#include "util/strings.h"

namespace kiln {

struct LossConfig {
  std::string type;
  double weight = 1.0;
  std::optional<double> positive_class_weight;  // binary
  YAML::Node class_weights;                     // category: list or {label: weight}
  double label_smoothing = 0.0;                 // category
  double robust_lambda = 0.0;
  double confidence_penalty = 0.0;
  double delta = 1.0;  // huber
  double nu = 0.1;     // deep_svdd
  double eta = 1.0;    // deep_sad
  double perturbation_strength = 0.1;  // drocc
  int num_perturbation_steps = 5;      // drocc (Ludwig's loss does not use it)
  std::optional<std::string> background_class;  // entropic_open_set, objectosphere: a label or an index
  double xi = 10.0, zeta = 0.1;                 // objectosphere
  template <class V>
  void visit(V& v) {
    v("type", type, "loss function");
    v("weight", weight, "weight of this output's loss in the combined loss", at_least(0));
    v("positive_class_weight", positive_class_weight, "binary: weight of the positive class");
    v("class_weights", class_weights, "category: list or {label: weight}");
    v("label_smoothing", label_smoothing, "category: label smoothing", in_range(0, 1, false, true));
    v("robust_lambda", robust_lambda, "binary/category: mix with a uniform prediction", in_range(0, 1));
    v("confidence_penalty", confidence_penalty, "penalty on low-entropy predictions", at_least(0));
    v("delta", delta, "huber: threshold between quadratic and linear", above(0));
    v("nu", nu, "deep_svdd: fraction of rows allowed outside the soft boundary (0: hard boundary)", in_range(0, 1));
    v("eta", eta, "deep_sad: weight of the labeled anomalies' repulsion", at_least(0));
    v("perturbation_strength", perturbation_strength, "drocc: scale of the perturbed scores", at_least(0));
    v("num_perturbation_steps", num_perturbation_steps,
      "drocc: accepted for Ludwig's configs; Ludwig's drocc loss (and Kiln's) does not use it", at_least(1));
    v("background_class", background_class,
      "entropic_open_set, objectosphere: the class of unknown rows, a label of the training rows or else an "
      "index in the output's vocabulary (null: every row is known)");
    v("xi", xi, "objectosphere: smallest logit norm of known rows", at_least(0));
    v("zeta", zeta, "objectosphere: weight of the squared logit norm of unknown rows", at_least(0));
  }
};

const std::vector<std::string>& augmentation_types();

// One image augmentation step (Ludwig's feature-level `augmentation:` list), applied to training
// batches only.
struct AugmentationOp {
  std::string type;
  double degree = 15;                   // random_rotate: angle drawn in [-degree, degree]
  double min = 0.5, max = 2.0;          // random_brightness / random_contrast: factor range
  double min_scale = 0.8;               // random_crop: side of the crop, as a fraction
  double probability = 0.5;             // flips: chance per image
  template <class V>
  void visit(V& v) {
    v("type", type, "the step", one_of_names(augmentation_types), required);
    v("degree", degree, "random_rotate: maximum angle in degrees", in_range(0, 180));
    v("min", min, "random_brightness / random_contrast: smallest factor", above(0));
    v("max", max, "random_brightness / random_contrast: largest factor", above(0));
    v("min_scale", min_scale, "random_crop: smallest crop side, as a fraction of the image", in_range(0, 1, true));
    v("probability", probability, "flips: chance that an image is flipped", in_range(0, 1));
  }
  std::vector<std::string> problems() const {
    if (max < min) return {"max: expected at least min (" + format_double(min) + "), got " + format_double(max)};
    return {};
  }
};

struct FeatureConfig {
  std::string name, type, column;
  bool is_output = false;
  std::shared_ptr<OptionsBase> preprocessing;
  TypedOptions encoder;  // inputs
  TypedOptions decoder;  // outputs
  LossConfig loss;
  double threshold = 0.5;  // binary outputs
  std::string anomaly_threshold = "auto";  // anomaly outputs: auto, or a score
  double threshold_percentile = 95;        // anomaly outputs, threshold auto
  int top_k = 3;           // category outputs: hits_at_k
  std::string reduce_input = "sum";
  std::vector<std::string> dependencies;
  std::vector<AugmentationOp> augmentation;  // image inputs
  std::optional<std::string> tied;  // inputs: the input feature whose encoder (and weights) this one uses

  // The keys of a feature besides `preprocessing` and `augmentation` (polymorphic, and with
  // syntax of their own: parse_feature reads them), declared once for reading and writing; the
  // type's schema says which per-type keys it has.
  template <class V>
  void visit(V& v, const FeatureSchema& s) {
    v("name", name, "feature name");
    v("type", type, "feature type");
    v("column", column, "the data column (default: the name)");
    if (is_output) {
      v("decoder", decoder, "decoder and its options");
      v("loss", loss, "loss and its options");
      if (s.output_threshold) v("threshold", threshold, "decision threshold on the probability", in_range(0, 1));
      if (s.output_score_threshold) {
        v("threshold", anomaly_threshold,
          "anomaly score from which a row is an anomaly: a number, or auto (a percentile of the validation rows' scores)");
        v("threshold_percentile", threshold_percentile, "threshold auto: the percentile", in_range(0, 100));
      }
      if (s.output_top_k) v("top_k", top_k, "k of hits_at_k", at_least(1));
      v("reduce_input", reduce_input,
        "how a combiner output that keeps its steps is reduced for this output's decoder (not a tagger's)",
        one_of({"sum", "mean", "avg", "max", "last", "concat", "none"}, "reduce_input"));
    } else {
      v("encoder", encoder, "encoder and its options");
      v("tied", tied, "another input feature of the same type whose encoder, weights included, this one uses "
                      "(a Siamese network); this feature's own encoder options are then not used");
    }
  }

  template <class T>
  const T& prep() const {
    return dynamic_cast<const T&>(*preprocessing);
  }
  template <class T>
  const T& enc() const {
    return encoder.as<T>();
  }
  template <class T>
  const T& dec() const {
    return decoder.as<T>();
  }
};

struct LrSchedulerConfig {
  std::string decay = "none";
  double decay_rate = 0.96;
  int decay_steps = 10000;
  bool staircase = false;
  double warmup_fraction = 0.0;
  int warmup_evaluations = 0;
  int reduce_on_plateau = 0;
  int reduce_on_plateau_patience = 10;
  double reduce_on_plateau_rate = 0.1;
  double min_lr = 0.0;
  template <class V>
  void visit(V& v) {
    v("decay", decay, "how the learning rate decays", one_of({"none", "linear", "exponential", "cosine"}, "decay"));
    v("decay_rate", decay_rate, "exponential: multiplier per decay_steps", above(0));
    v("decay_steps", decay_steps, "exponential: steps per decay_rate", at_least(1));
    v("staircase", staircase, "exponential: decay in steps, not continuously");
    v("warmup_fraction", warmup_fraction, "fraction of all steps spent warming up linearly", in_range(0, 1));
    v("warmup_evaluations", warmup_evaluations, "epochs of linear warm-up", at_least(0));
    v("reduce_on_plateau", reduce_on_plateau, "max number of reductions on plateau (0: off)", at_least(0));
    v("reduce_on_plateau_patience", reduce_on_plateau_patience, "evaluations without improvement", at_least(0));
    v("reduce_on_plateau_rate", reduce_on_plateau_rate, "multiplier per reduction", in_range(0, 1, true));
    v("min_lr", min_lr, "lower bound of the learning rate", at_least(0));
  }
};

struct GradientClippingConfig {
  std::optional<double> clipglobalnorm = 0.5;
  std::optional<double> clipnorm;
  std::optional<double> clipvalue;
  template <class V>
  void visit(V& v) {
    v("clipglobalnorm", clipglobalnorm, "max global L2 norm of all gradients", above(0));
    v("clipnorm", clipnorm, "max L2 norm of each parameter's gradient", above(0));
    v("clipvalue", clipvalue, "max absolute value of each gradient element", above(0));
  }
};

// trainer.loss_balancing's choices (each has a strategy in train/loss_balancing.cpp).
const std::vector<std::string>& loss_balancing_strategies();

struct TrainerConfig {
  std::string type = "trainer";
  int epochs = 100;
  std::optional<int> train_steps;
  int batch_size = 128;
  std::optional<int> eval_batch_size;
  double learning_rate = 0.001;
  TypedOptions optimizer;
  LrSchedulerConfig learning_rate_scheduler;
  int early_stop = 5;
  GradientClippingConfig gradient_clipping;
  std::string regularization_type = "l2";
  double regularization_lambda = 0.0;
  std::optional<std::string> validation_field;
  std::optional<std::string> validation_metric;
  bool should_shuffle = true;
  bool evaluate_training_set = false;
  std::optional<int> random_seed;
  int threads = 0;  // Kiln: intra-op threads; 0 = all cores
  std::string use_mixed_precision = "auto";  // parse_auto_bool (util/strings.h); auto: trainer.cpp
  std::string loss_balancing = "none";  // train/loss_balancing.h
  double loss_balancing_alpha = 1.5;
  double loss_balancing_lr = 0.01;
  std::optional<std::vector<double>> loss_balancing_preference_vector;
  double loss_balancing_tchebycheff_weight = 0.5;
  std::optional<std::string> model_soup;  // uniform | greedy: train/trainer.cpp
  int model_soup_top_k = 5;
  template <class V>
  void visit(V& v) {
    v("type", type, "trainer type (only 'trainer', the ECD trainer)", one_of({"trainer"}, "trainer type"));
    v("epochs", epochs, "number of passes over the training split", at_least(1));
    v("train_steps", train_steps, "stop after this many steps instead of epochs", at_least(1));
    v("batch_size", batch_size, "rows per training step", at_least(1));
    v("eval_batch_size", eval_batch_size, "rows per evaluation step (default: batch_size)", at_least(1));
    v("learning_rate", learning_rate, "initial learning rate", above(0));
    v("optimizer", optimizer,
      "adam | adamw | sgd | rmsprop | adagrad | adamax | nadam | radam | adadelta | lbfgs | adafactor | muon | "
      "schedule_free_adamw, with their parameters");
    v("learning_rate_scheduler", learning_rate_scheduler, "warm-up, decay, reduce on plateau");
    v("early_stop", early_stop, "evaluations without improvement before stopping (<= 0: off)");
    v("gradient_clipping", gradient_clipping, "gradient clipping");
    v("regularization_type", regularization_type, "penalty on the weights",
      one_of({"l1", "l2", "l1_l2"}, "regularization"));
    v("regularization_lambda", regularization_lambda, "regularization strength (0: off)", at_least(0));
    v("validation_field", validation_field, "output (or 'combined') watched for early stopping");
    v("validation_metric", validation_metric, "metric watched for early stopping");
    v("should_shuffle", should_shuffle, "shuffle training rows every epoch");
    v("evaluate_training_set", evaluate_training_set, "also evaluate the training split");
    v("random_seed", random_seed, "seed (also accepted at the top level)");
    v("threads", threads, "Kiln: intra-op CPU threads (0: all cores)", at_least(0));
    v("use_mixed_precision", use_mixed_precision,
      "true | false | auto: train the forward pass in bfloat16 (CPU autocast; weights, gradients "
      "and the optimizer stay float32). auto (Kiln's default): on when the CPU has AMX and the "
      "model has a text, sequence or image input", auto_bool());
    v("loss_balancing", loss_balancing,
      "how the output features' losses are combined: none (sum of loss.weight * loss) | log_transform | "
      "uncertainty | famo | gradnorm | nash_mtl | pareto_mtl (docs/LUDWIG.md)",
      one_of(loss_balancing_strategies(), "loss balancing"));
    v("loss_balancing_alpha", loss_balancing_alpha, "gradnorm: asymmetry exponent", above(0));
    v("loss_balancing_lr", loss_balancing_lr, "famo: step of its weight logits", above(0));
    v("loss_balancing_preference_vector", loss_balancing_preference_vector,
      "pareto_mtl: one non-negative preference per output feature (normalized; default uniform)", at_least(0));
    v("loss_balancing_tchebycheff_weight", loss_balancing_tchebycheff_weight,
      "pareto_mtl: weight of the max term against the weighted sum", in_range(0, 1));
    v("model_soup", model_soup,
      "after training, the model is the average of the weights of the model_soup_top_k best epochs (by the "
      "validation metric): uniform (all of them) or greedy (best first, each kept only if the validation "
      "metric does not get worse; Wortsman et al., 2022)",
      one_of({"uniform", "greedy"}, "model soup"));
    v("model_soup_top_k", model_soup_top_k, "epochs kept for the model soup", at_least(1));
  }
};

struct SplitConfig {
  std::string type = "random";
  std::vector<double> probabilities = {0.7, 0.1, 0.2};
  std::optional<std::string> column;
  template <class V>
  void visit(V& v) {
    v("type", type,
      "how rows are assigned to splits (datetime: the earliest rows of the column train, the latest test)",
      one_of({"random", "fixed", "stratify", "hash", "datetime"}, "split type"));
    v("probabilities", probabilities, "train / validation / test fractions", in_range(0, 1));
    v("column", column, "fixed: split column (default 'split'); stratify/hash/datetime: column to use");
  }
};

struct PreprocessingConfig {
  SplitConfig split;
  double sample_ratio = 1.0;
  std::optional<int> sample_size;
  std::optional<double> oversample_minority, undersample_majority;
  template <class V>
  void visit(V& v) {
    v("split", split, "how rows are split into training / validation / test");
    v("sample_ratio", sample_ratio, "fraction of rows to use", in_range(0, 1, true));
    v("sample_size", sample_size, "number of rows to use", at_least(1));
    v("oversample_minority", oversample_minority,
      "training rows of the rarest class drawn again until they are this fraction of the most "
      "frequent class's (one class output)", above(0));
    v("undersample_majority", undersample_majority,
      "training rows of the most frequent class kept so that the rarest class is this fraction of "
      "them (one class output)", above(0));
  }
  std::vector<std::string> problems() const {
    if (oversample_minority && undersample_majority)
      return {"undersample_majority: give either oversample_minority or undersample_majority, not both"};
    return {};
  }
};

// slices: named predicates over raw column values, one slice per value of a column, or per tag.
struct SliceDefinition {
  std::optional<std::string> name;
  std::optional<std::string> where;       // a predicate (slices/expression.h)
  std::optional<std::string> by;          // one slice per value of this column
  std::optional<std::string> tag_column;  // one slice per tag (tags separated by , ; or |)
  int top_k = 10;                         // by / tag_column: the most frequent values only
  template <class V>
  void visit(V& v) {
    v("name", name, "slice name (required with where)");
    v("where", where, "predicate over raw column values, e.g. \"Age < 30 and Dept == 'Sales'\"");
    v("by", by, "one slice per value of this column");
    v("tag_column", tag_column, "one slice per tag in this column");
    v("top_k", top_k, "by / tag_column: keep the most frequent values", at_least(1));
  }
};

struct SliceGate {
  std::optional<std::string> slice;   // absent: the whole evaluated set
  std::optional<std::string> output;  // absent: the validation field, or the only output
  std::string metric;
  std::optional<double> min, max;
  std::optional<double> max_drop;  // against the value measured on the test split at training
  template <class V>
  void visit(V& v) {
    v("slice", slice, "slice the gate checks (absent: everything)");
    v("output", output, "output feature (absent: the only or the validation output)");
    v("metric", metric, "metric name, e.g. accuracy, roc_auc, root_mean_squared_error", required);
    v("min", min, "fail below this value");
    v("max", max, "fail above this value");
    v("max_drop", max_drop, "fail if worse than at training time by more than this", at_least(0));
  }
};

struct DriftConfig {
  double psi_warning = 0.1;
  double psi_alert = 0.25;
  template <class V>
  void visit(V& v) {
    v("psi_warning", psi_warning, "population stability index flagged as a warning");
    v("psi_alert", psi_alert, "population stability index flagged as an alert");
  }
};

struct SlicesConfig {
  int min_slice_size = 30;
  std::vector<SliceDefinition> define;
  std::vector<SliceGate> gates;
  DriftConfig drift;
  template <class V>
  void visit(V& v) {
    v("min_slice_size", min_slice_size, "slices with fewer rows report their size only", at_least(1));
    v("define", define, "slice definitions");
    v("gates", gates, "quality gates checked by evaluate (--fail_on_gate)");
    v("drift", drift, "drift thresholds used by predict");
  }
};

struct Config {
  std::string file;  // where it was read from, for messages
  std::vector<std::string> warnings;  // Ludwig syntax upgraded, keys without effect (ludwig_compat.h)
  std::string model_type = "ecd";
  std::vector<FeatureConfig> input_features;
  std::vector<FeatureConfig> output_features;
  TypedOptions combiner;
  TrainerConfig trainer;
  PreprocessingConfig preprocessing;
  YAML::Node defaults;  // kept as written; already merged into the features
  YAML::Node hyperopt;        // as written: `kiln hyperopt` makes each trial's config from it
  HyperoptSpec hyperopt_spec;  // the block checked and resolved (when there is one)
  std::optional<SlicesConfig> slices;
  std::optional<int> random_seed;
  std::optional<std::string> ludwig_version;

  // The top-level keys besides the feature lists (read and written through the visitor; the
  // features have FeatureConfig::visit, `defaults` is read first because it merges into them).
  template <class V>
  void visit(V& v) {
    v("model_type", model_type, "the model: ecd (encoder-combiner-decoder)", one_of({"ecd"}, "model type"));
    v("ludwig_version", ludwig_version, "accepted for Ludwig configs");
    v("random_seed", random_seed, "seed of splits, initialization and shuffling (default 42)");
    v("combiner", combiner, "how the encoded inputs are combined");
    v("trainer", trainer, "training settings");
    v("preprocessing", preprocessing, "splits and sampling");
    v("defaults", defaults, "options per feature type, merged into every feature of that type");
    v("hyperopt", hyperopt, "the search of kiln hyperopt");
    v("slices", slices, "named data slices, quality gates and drift thresholds");
  }

  const FeatureConfig* find_output(const std::string& name) const;
  int seed() const;  // random_seed (top level, then trainer), default 42
  std::string validation_field() const;
  std::string validation_metric() const;
};

// The YAML of a config with Ludwig's older syntax upgraded (config/ludwig_compat.h): what
// parse_config reads and `kiln config --upgrade` prints. Throws ConfigError for malformed YAML,
// a config that is not a mapping, or a model type Kiln does not have. `warnings`: one per rewrite.
YAML::Node load_config_yaml(const std::string& yaml_text, const std::string& file,
                            std::vector<std::string>* warnings);
// Parses YAML text; `file` names it in messages. Throws ConfigError with every problem found.
// Ludwig's older syntax is upgraded first; each rewrite is a warning (printed, and kept in
// Config::warnings).
Config parse_config(const std::string& yaml_text, const std::string& file);
Config load_config(const std::string& path);
// The fully resolved config as YAML (every default filled in).
std::string config_to_yaml(const Config& c);

}  // namespace kiln
