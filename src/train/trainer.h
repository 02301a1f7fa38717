#pragma once
// The training loop: shuffled batches, optimizer and learning-rate schedule, per-epoch evaluation
// on validation and test, early stopping on the validation metric, best-weights tracking and a
// checkpoint per epoch that `--resume` continues from (bit-identical to an uninterrupted run with
// the same seed and thread count).
#include <functional>
#include <string>

#include "train/evaluate.h"

namespace kiln {

struct TrainRun {
  std::string model_dir;  // <output_directory>/model
  bool resume = false;
  bool quiet = false;
  // Checked between batches (hyperopt: deadline or scheduler decision). When it returns true the
  // epoch in progress is abandoned and the best completed epoch's weights stay the model.
  std::function<bool()> should_stop;
  // After each epoch's evaluation: (1-based epoch, watched validation value, seconds the
  // validation pass took). Return false to end training there (hyperopt reports each epoch to
  // its scheduler this way).
  std::function<bool(int epoch, double value, double eval_seconds)> on_epoch;
};

struct TrainOutcome {
  TrainingStatistics stats;
  int epochs = 0;        // epochs completed
  int best_epoch = 0;    // 1-based epoch whose weights were kept
  double best_value = 0;
  bool early_stopped = false;
  bool interrupted = false;  // should_stop or on_epoch ended training before its epochs were done
  int resumed_from = 0;  // epochs already done when resuming
  bool bfloat16 = false;  // the forward pass ran in bfloat16 (trainer.use_mixed_precision)
  std::vector<int> soup_epochs;  // trainer.model_soup: the epochs whose weights were averaged (else empty)
  double seconds = 0;
};

TrainOutcome train_model(EcdModel& model, const Config& c, const MetadataMap& m,
                         const Dataset& data, const TrainRun& run);

// Learning rate at a global step (warm-up, decay), before plateau reductions.
double scheduled_lr(const Config& c, int64_t step, int64_t total_steps, int64_t steps_per_epoch);

}  // namespace kiln
