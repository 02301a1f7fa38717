#pragma once
// A trained model loaded once and scoring tables in memory: what `kiln serve` answers requests
// with (and, next, the embedding library). Same preprocessing, forward pass and prediction
// columns as `kiln predict`.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "data/table.h"
#include "features/feature.h"
#include "pipelines/model_store.h"

namespace kiln {

class Scorer {
 public:
  // Throws ModelError naming the missing or corrupt file.
  Scorer(const std::string& model_path, int threads);
  const LoadedModel& model() const { return lm_; }
  const std::string& model_path() const { return path_; }
  // The columns a row must give: one per input feature, in the config's order.
  const std::vector<std::string>& input_columns() const { return inputs_; }
  // The prediction columns of every row of `t` (Ludwig's names, row order). Preprocessing runs
  // on the calling thread; forward passes of concurrent calls take turns. Throws DataError
  // naming the row and feature of a bad value.
  std::vector<PredictionColumn> predict(std::shared_ptr<Table> t) const;

 private:
  std::string path_;
  LoadedModel lm_;
  int threads_;
  std::vector<std::string> inputs_;
  mutable std::mutex forward_;
};

}  // namespace kiln
