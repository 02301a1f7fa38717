#include "pipelines/scorer.h"

#include <torch/torch.h>

#include "pipelines/preprocess.h"
#include "train/batcher.h"
#include "train/evaluate.h"
#include "util/parallel.h"

namespace kiln {

Scorer::Scorer(const std::string& model_path, int threads)
    : path_(model_path), lm_(load_model(model_path)), threads_(threads), inputs_(scoring_columns(lm_.config, false)) {
  lm_.model->eval();
}

std::vector<PredictionColumn> Scorer::predict(std::shared_ptr<Table> t) const {
  ScoringData d = prepare_scoring_data(lm_.config, lm_.metadata, std::move(t), false, "full", 1);
  Evaluation e;
  {
    std::lock_guard<std::mutex> lock(forward_);
    const ThreadScope scope(threads_);
    torch::InferenceMode inference;
    const int64_t batch = std::clamp<int64_t>(d.rows.size(0), 1, 4096);
    e = evaluate(*lm_.model, lm_.config, lm_.metadata, Batcher(d.columns, d.lazy), d.rows, static_cast<int>(batch),
                 true, false);
  }
  std::vector<PredictionColumn> cols;
  for (const auto& f : lm_.config.output_features)
    for (auto& p : output_kind(f.type).predictions(f, lm_.metadata.at(f.name), e.logits.at(f.name)))
      cols.push_back(std::move(p));
  return cols;
}

}  // namespace kiln
