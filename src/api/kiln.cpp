// The embedding API (include/kiln/kiln.h): a thin face over the Scorer, the one scoring path that
// `kiln predict` and `kiln serve` use too.
#include "kiln/kiln.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "config/config.h"
#include "config/schema.h"
#include "data/table.h"
#include "pipelines/scorer.h"
#include "util/strings.h"
#include "version.h"

namespace kiln {

struct Model::Impl {
  Impl(const std::string& dir, const ModelOptions& o)
      : scorer(dir, o.threads, Batching{o.max_batch_size, o.batch_timeout_us, 0}) {}
  Scorer scorer;

  Predictions predict(std::shared_ptr<Table> t) const {
    Scored s = scorer.score(std::move(t));
    std::vector<PredictionValues> columns;
    for (auto& c : s.columns) {
      PredictionValues v;
      v.name = c.name;
      v.numeric = c.numeric;
      if (c.numeric) {
        v.number.reserve(c.values.size());
        for (const auto& x : c.values) {
          double d = 0;
          if (!parse_double(x, d)) d = std::nan("");
          v.number.push_back(d);
        }
      }
      v.text = std::move(c.values);
      columns.push_back(std::move(v));
    }
    return Predictions(s.rows(), std::move(columns));
  }

  ReadOptions read_options() const {
    ReadOptions ro;
    ro.columns = scorer.input_columns();
    ro.optional_columns = scorer.slice_columns();
    return ro;
  }
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

Model Model::load(const std::string& model_dir, const ModelOptions& options) {
  register_builtins();
  if (options.threads < 0) throw UsageError("ModelOptions::threads: expected 0 (automatic) or more, got " + std::to_string(options.threads));
  if (options.max_batch_size < 1) throw UsageError("ModelOptions::max_batch_size: expected at least 1, got " + std::to_string(options.max_batch_size));
  if (options.batch_timeout_us < 0) throw UsageError("ModelOptions::batch_timeout_us: expected at least 0, got " + std::to_string(options.batch_timeout_us));
  Model m(std::make_unique<Impl>(model_dir, options));
  torch::set_num_threads(m.impl_->scorer.threads());  // process-wide (kiln.h says so)
  return m;
}

const std::vector<std::string>& Model::input_columns() const { return impl_->scorer.input_columns(); }

std::vector<std::string> Model::output_features() const {
  std::vector<std::string> out;
  for (const auto& f : impl_->scorer.model().config.output_features) out.push_back(f.name);
  return out;
}

std::string Model::config_yaml() const { return config_to_yaml(impl_->scorer.model().config); }

Predictions Model::predict(const std::vector<Row>& rows) const {
  // The inputs, plus the slice columns every row gives (slices then count these rows).
  const std::vector<std::string> columns = impl_->scorer.request_columns([&](const std::string& s) {
    bool everywhere = !rows.empty();
    for (const auto& r : rows) everywhere = everywhere && r.count(s);
    return everywhere;
  });
  std::vector<std::vector<std::string>> cells(rows.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    cells[r].reserve(columns.size());
    for (const auto& c : columns) {
      auto it = rows[r].find(c);
      if (it == rows[r].end())
        throw DataError("rows[" + std::to_string(r) + "]: missing input column '" + c + "'");
      cells[r].push_back(it->second);
    }
  }
  return impl_->predict(std::make_shared<Table>(table_from_rows("rows", columns, cells)));
}

Predictions Model::predict_csv(const std::string& csv) const {
  return impl_->predict(std::make_shared<Table>(read_csv_text(csv, "csv", ',', impl_->read_options())));
}

Predictions Model::predict_jsonl(const std::string& jsonl) const {
  return impl_->predict(std::make_shared<Table>(read_jsonl_text(jsonl, "jsonl", impl_->read_options())));
}

const PredictionValues& Predictions::column(const std::string& name) const {
  for (const auto& c : columns_)
    if (c.name == name) return c;
  std::vector<std::string> names;
  for (const auto& c : columns_) names.push_back(c.name);
  throw UsageError("no prediction column '" + name + "'" + suggest(name, names));
}

const std::string& Predictions::text(size_t row, const std::string& column) const {
  const auto& c = this->column(column);
  if (row >= rows_) throw UsageError("row " + std::to_string(row) + " of " + std::to_string(rows_) + " predictions");
  return c.text[row];
}

double Predictions::number(size_t row, const std::string& column) const {
  const auto& c = this->column(column);
  if (!c.numeric) throw UsageError("prediction column '" + column + "' holds text, not numbers (use text())");
  if (row >= rows_) throw UsageError("row " + std::to_string(row) + " of " + std::to_string(rows_) + " predictions");
  return c.number[row];
}

std::string Predictions::to_csv() const {
  std::vector<std::string> names;
  std::vector<const std::vector<std::string>*> values;
  for (const auto& c : columns_) names.push_back(c.name), values.push_back(&c.text);
  return csv_text(names, values, rows_);
}

std::string version() { return std::string(KILN_VERSION) + " (git " + KILN_GIT_HASH + ")"; }

}  // namespace kiln
