#pragma once
// A feature type ties together its preprocessing (fit on the training split, encode every row),
// and, as an output (OutputKind), its loss, metrics and prediction columns. One file per type; each registers
// its schema (config layer) and its FeatureKind (here) in one register_*() call.
#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "data/table.h"
#include "features/metadata.h"
#include "metrics/metrics.h"
#include "model/batch.h"
#include "util/registry.h"

namespace kiln {

struct LossResult {
  torch::Tensor mean;  // scalar, for backward
  double sum = 0;      // summed per-row loss, for the reported "loss" metric
  torch::Tensor rows;  // per-row loss (detached), for per-slice metrics
};

struct PredictionColumn {
  std::string name;
  std::vector<std::string> values;
  bool numeric = false;  // every value is a number (probabilities, regression): JSON responses write numbers
};

// What a feature type does as an output: size of the decoder's logits, loss, metrics, prediction
// columns, monitoring summaries and per-row errors. Output-capable types implement it beside
// FeatureKind (which also preprocesses their targets) and return it from FeatureKind::output().
class OutputKind {
 public:
  virtual ~OutputKind() = default;
  virtual int64_t output_size(const FeatureConfig& f, const FeatureMetadata& m) const = 0;
  virtual LossResult loss(const FeatureConfig& f, const FeatureMetadata& m,
                          const torch::Tensor& logits, const torch::Tensor& target) const = 0;
  virtual std::unique_ptr<OutputMetrics> metrics(const FeatureConfig& f,
                                                 const FeatureMetadata& m) const = 0;
  virtual std::vector<PredictionColumn> predictions(const FeatureConfig& f,
                                                    const FeatureMetadata& m,
                                                    const torch::Tensor& logits) const = 0;
  // For monitoring: a summary of the predictions of some rows (their float64 logits, at least
  // one row), e.g. the positive rate. Default (regression): the mean prediction.
  virtual MetricValues prediction_summary(const FeatureConfig& f, const FeatureMetadata& m,
                                          const torch::Tensor& logits) const;
  // For slice finding: each row's error from its float64 logits and encoded target, in [0, 1] for
  // classes and sets. Default (regression): the squared error.
  virtual torch::Tensor row_errors(const FeatureConfig& f, const torch::Tensor& logits,
                                   const torch::Tensor& target) const;
  // Whether the output learns something after training (the anomaly threshold), and learning it
  // into the metadata from the trained model's logits on the validation rows (the training rows
  // without a validation split).
  virtual bool calibrates(const FeatureConfig& /*f*/) const { return false; }
  virtual void calibrate(const FeatureConfig& /*f*/, FeatureMetadata& /*m*/, const torch::Tensor& /*logits*/) const {}
  // Whether the encoded target is one class per row (binary, category): k-fold splits stratify by it.
  virtual bool target_is_class() const { return false; }
};

class Synthesis;  // data/synthesize.h

class FeatureKind {
 public:
  virtual ~FeatureKind() = default;
  // kiln synthesize_dataset: a value of this type for row `row` that the feature's preprocessing
  // reads (its tokenizer, vector_size, image size, date format).
  virtual std::string synthesize(const FeatureConfig& f, Synthesis& s, int64_t row) const = 0;
  // Learns statistics / vocabulary from the training rows only.
  virtual FeatureMetadata fit(const FeatureConfig& f, const Table& t, const Column& c,
                              const std::vector<int64_t>& train_rows) const = 0;
  // Encodes every row of the column. Throws DataError naming file, line and column.
  virtual torch::Tensor encode(const FeatureConfig& f, const FeatureMetadata& m, const Table& t,
                               const Column& c) const = 0;
  // fit() then encode(); a type may do both in one pass over the column.
  virtual std::pair<FeatureMetadata, torch::Tensor> fit_encode(
      const FeatureConfig& f, const Table& t, const Column& c,
      const std::vector<int64_t>& train_rows) const {
    FeatureMetadata m = fit(f, t, c, train_rows);
    torch::Tensor e = encode(f, m, t, c);
    return {std::move(m), std::move(e)};
  }
  // encode(), plus the column's raw numbers (NaN where missing or not a number) when the type
  // parses them anyway (number), so slices need not parse the text again; else an empty vector.
  virtual std::pair<torch::Tensor, std::vector<double>> encode_with_numbers(
      const FeatureConfig& f, const FeatureMetadata& m, const Table& t, const Column& c) const {
    return {encode(f, m, t, c), {}};
  }
  // True when encode() gives each distinct raw value its own code, and 0 exactly to missing and
  // unseen values (so slices can read codes instead of re-reading the text).
  virtual bool codes_identify_values(const FeatureConfig&) const { return false; }
  // Rows whose value is missing and whose strategy is drop_row (or, for outputs, any missing).
  virtual void mark_dropped(const FeatureConfig& f, const Table& t, const Column& c,
                            std::vector<uint8_t>& keep) const;

  // Inputs loaded per batch instead of encoded at preprocessing (images with in_memory: false):
  // lazy_rows() says so, and lazy() checks the column (files present) and returns the loader,
  // which keeps `t` alive. Other types encode every row up front.
  virtual bool lazy_rows(const FeatureConfig&) const { return false; }
  virtual std::shared_ptr<const LazyColumn> lazy(const FeatureConfig&, const FeatureMetadata&,
                                                 std::shared_ptr<const Table> /*t*/, const Column&) const {
    return nullptr;
  }

  // Inputs: a random transformation applied to training batches only (image augmentation), or
  // an empty function when the feature has none. Draws from torch's global generator.
  virtual std::function<torch::Tensor(const torch::Tensor&)> augmenter(const FeatureConfig&) const {
    return {};
  }

  // The output side of the type, or null for an input-only type (date, image, timeseries, bag).
  virtual const OutputKind* output() const { return nullptr; }

  // The metadata_fields groups (features/metadata.h) the type learns in fit() and saves.
  virtual unsigned metadata_fields() const = 0;

  // What the rest of Kiln asks of a type instead of comparing its name.
  // Inputs whose value distribution drift profiles compare, and how.
  enum class Distribution { none, numeric, categorical };
  virtual Distribution distribution() const { return Distribution::none; }
  // Inputs encoded as sequences of tokens (text, sequence), the layers bfloat16 speeds up.
  virtual bool token_sequence() const { return false; }
  // Inputs: how many numbers one row's value is (a vector's or series' length; 1 for a scalar),
  // for encoders that read the value itself (dense, passthrough).
  virtual int64_t value_width(const FeatureMetadata&) const { return 1; }
  // Inputs whose steps are numbers rather than token ids (timeseries): sequence encoders read
  // each step's value instead of embedding it.
  virtual bool numeric_steps() const { return false; }
  // Inputs of one scalar per row (number, binary): tabtransformer sets them beside its tokens.
  virtual bool scalar_value() const { return false; }
};

Registry<std::shared_ptr<const FeatureKind>>& feature_kinds();
// One call registers a feature type: its schema (what a config may say about it, what validation
// checks) and its kind (what it does with data) together under its type name.
void register_feature_type(const std::string& type, FeatureSchema schema, std::shared_ptr<const FeatureKind> kind);
const FeatureKind& feature_kind(const std::string& type);
// The output side of a type that has one (config validation admits only those as outputs).
const OutputKind& output_kind(const std::string& type);

// Shared missing-value handling: strategies Ludwig names, applied to a column's raw text.
// Returns, for each row, the index of the row whose value to use (itself, or a neighbour for
// bfill/ffill), or -1 to use the constant fill.
std::vector<int64_t> missing_sources(const Table& t, const Column& c, const std::string& strategy);

// Parses space-, tab- or comma-separated numbers (vector and timeseries rows) into out (cleared
// first). On a non-number returns false with its 1-based position and text in bad_index/bad_token.
bool parse_number_list(std::string_view s, std::vector<float>& out, size_t& bad_index, std::string& bad_token);

void register_number_feature();
void register_binary_feature();
void register_category_feature();
void register_text_features();  // text and sequence
void register_image_feature();
void register_vector_feature();
void register_date_feature();
void register_set_features();  // set and bag
void register_timeseries_feature();
void register_anomaly_feature();  // output only

}  // namespace kiln
