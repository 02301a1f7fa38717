// kiln train / experiment: read → split → fit → encode → train → evaluate → store.
#include "util/json.h"  // first: configures RapidJSON
#include <rapidjson/stringbuffer.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <cstdio>
#include <iostream>
#include <thread>

#include "config/config.h"
#include "data/split.h"
#include "features/feature.h"
#include "pipelines/model_store.h"
#include "pipelines/pipelines.h"
#include "pipelines/preprocess.h"
#include "pipelines/report_text.h"
#include "train/trainer.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/parallel.h"
#include "util/json.h"
#include "version.h"

namespace kiln {

int resolve_threads(int requested, int config_threads) {
  if (requested > 0) return requested;
  if (config_threads > 0) return config_threads;
  return std::max(1u, std::thread::hardware_concurrency());
}

namespace {

std::string description_json(const TrainOptions& o, const Config& c, const Prepared& p,
                             const TrainOutcome& t, int threads, int64_t params, int64_t trainable,
                             double total_s, const std::string& run_id, const std::string& model_files) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.SetIndent(' ', 1);
  w.StartObject();
  w.Key("command"), json_string(w, o.command_line);
  w.Key("run_id"), json_string(w, run_id);
  w.Key("kiln_version"), json_string(w, KILN_VERSION);
  w.Key("git_hash"), json_string(w, KILN_GIT_HASH);
  w.Key("torch_version"), json_string(w, TORCH_VERSION);
  w.Key("random_seed"), w.Int(c.seed());
  w.Key("threads"), w.Int(threads);
  w.Key("precision"), json_string(w, t.bfloat16 ? "bfloat16" : "float32");
  w.Key("dataset"), json_string(w, o.dataset);
  w.Key("dataset_checksum"), json_string(w, hex64(p.dataset_hash));
  w.Key("preprocessing_cache"), json_string(w, p.from_cache ? "hit" : (p.cache_path.empty() ? "off" : "miss"));
  w.Key("rows"), w.Int64(p.rows);
  w.Key("dropped_rows"), w.Int64(p.dropped_rows);
  w.Key("split_rows");
  w.StartObject();
  w.Key("training"), w.Int64(p.data.train.size(0));
  w.Key("validation"), w.Int64(p.data.validation.size(0));
  w.Key("test"), w.Int64(p.data.test.size(0));
  w.EndObject();
  w.Key("num_parameters"), w.Int64(params);
  w.Key("num_trainable_parameters"), w.Int64(trainable);
  w.Key("epochs"), w.Int(t.epochs);
  w.Key("resumed_from_epoch"), w.Int(t.resumed_from);
  w.Key("best_epoch"), w.Int(t.best_epoch);
  w.Key("best_validation_value"), json_double(w, t.best_value);
  w.Key("validation_field"), json_string(w, c.validation_field());
  w.Key("validation_metric"), json_string(w, c.validation_metric());
  w.Key("early_stopped"), w.Bool(t.early_stopped);
  if (!t.soup_epochs.empty()) {  // trainer.model_soup: the model averages these epochs' weights
    w.Key("model_soup_epochs");
    w.StartArray();
    for (int e : t.soup_epochs) w.Int(e);
    w.EndArray();
  }
  w.Key("model_files"), w.RawValue(model_files.c_str(), model_files.size(), rapidjson::kObjectType);
  w.Key("timings");
  w.StartObject();
  w.Key("preprocess_s"), json_double(w, p.seconds);
  w.Key("train_s"), json_double(w, t.seconds);
  w.Key("total_s"), json_double(w, total_s);
  w.EndObject();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

// Ludwig's class balancing of the training rows (preprocessing.oversample_minority /
// undersample_majority): the rarest class's rows drawn again with replacement, or the most
// frequent class's rows subsampled, seeded. Validation and test rows are untouched.
// Class balancing needs one output whose target is a class; checked before preprocessing.
void check_class_balancing(const Config& c) {
  const auto& pp = c.preprocessing;
  if (!pp.oversample_minority && !pp.undersample_majority) return;
  if (c.output_features.size() != 1 || !output_kind(c.output_features[0].type).target_is_class())
    throw ConfigError(c.file + ": preprocessing." + (pp.oversample_minority ? "oversample_minority" : "undersample_majority") +
                      ": class balancing needs exactly one output feature, of a class type (binary or category)");
}

void balance_classes(Dataset& d, const Config& c, bool quiet) {
  const auto& pp = c.preprocessing;
  if (!pp.oversample_minority && !pp.undersample_majority) return;
  auto col = d.columns.find(c.output_features[0].name);
  if (col == d.columns.end() || col->second.dim() != 1)
    throw std::logic_error("balance_classes: the target column is not one class per row");
  const torch::Tensor rows = d.train.to(torch::kLong).contiguous();
  const torch::Tensor labels = col->second.index_select(0, rows).to(torch::kLong).contiguous();
  std::map<int64_t, std::vector<int64_t>> by_class;
  const int64_t* row = rows.data_ptr<int64_t>();
  const int64_t* label = labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < rows.size(0); ++i) by_class[label[i]].push_back(row[i]);
  if (by_class.size() < 2) return;  // one class: nothing to balance
  auto rare = by_class.begin(), common = by_class.begin();
  for (auto it = by_class.begin(); it != by_class.end(); ++it) {
    if (it->second.size() < rare->second.size()) rare = it;
    if (it->second.size() > common->second.size()) common = it;
  }
  std::mt19937_64 rng(static_cast<uint64_t>(c.seed()));
  const size_t before = static_cast<size_t>(rows.size(0));
  std::vector<int64_t>& changed = pp.oversample_minority ? rare->second : common->second;
  const size_t was = changed.size();
  if (pp.oversample_minority) {  // with replacement, as Ludwig (pandas' sample(frac, replace=True))
    const auto want = static_cast<size_t>(static_cast<double>(common->second.size()) * *pp.oversample_minority);
    std::vector<int64_t> drawn(want);
    std::uniform_int_distribution<size_t> pick(0, was - 1);
    for (auto& r : drawn) r = changed[pick(rng)];
    changed = std::move(drawn);
  } else {
    const auto want = std::min(was, static_cast<size_t>(static_cast<double>(rare->second.size()) / *pp.undersample_majority));
    std::shuffle(changed.begin(), changed.end(), rng);
    changed.resize(want);
  }
  std::vector<int64_t> out;
  for (const auto& [cls, r] : by_class) out.insert(out.end(), r.begin(), r.end());
  std::sort(out.begin(), out.end());
  d.train = torch::tensor(out, torch::TensorOptions().dtype(torch::kLong));
  if (!quiet)
    std::fprintf(stderr, "kiln: class balancing: %s class rows %zu -> %zu; training rows %zu -> %zu\n",
                 pp.oversample_minority ? "rarest" : "most frequent", was, changed.size(), before, out.size());
}

// Replaces the training / validation rows with fold `fold` of a k-fold split of both.
void use_cv_fold(Dataset& d, const Config& c, int folds, int fold, uint64_t seed) {
  torch::Tensor pooled = torch::cat({d.train, d.validation}).to(torch::kLong).contiguous();
  std::vector<int64_t> rows(pooled.data_ptr<int64_t>(), pooled.data_ptr<int64_t>() + pooled.numel());
  std::vector<int64_t> strata;
  const FeatureConfig& target = c.output_features.front();
  auto col = d.columns.find(target.name);
  if (output_kind(target.type).target_is_class() && col != d.columns.end() && col->second.dim() == 1) {
    torch::Tensor s = col->second.index_select(0, pooled).to(torch::kLong).contiguous();
    strata.assign(s.data_ptr<int64_t>(), s.data_ptr<int64_t>() + s.numel());
  }
  auto [train, validation] = kfold_rows(rows, strata, folds, fold, seed);
  auto to_tensor = [](const std::vector<int64_t>& v) {
    return torch::tensor(v, torch::TensorOptions().dtype(torch::kLong));
  };
  d.train = to_tensor(train);
  d.validation = to_tensor(validation);
}

// What outputs learn from the trained model, on the validation rows (the training rows without
// any): into the metadata (OutputKind::calibrate: the anomaly threshold), into the decoder
// (DecoderBase::calibrate: a temperature). Returns whether anything changed.
bool calibrate_outputs(EcdModel& model, const Config& c, Prepared& p) {
  const torch::Tensor& rows = p.data.validation.size(0) > 0 ? p.data.validation : p.data.train;
  if (rows.size(0) == 0) return false;
  bool any = false;
  for (const auto& f : c.output_features)
    any = any || output_kind(f.type).calibrates(f) || model.decoder(f.name)->calibrates();
  if (!any) return false;
  const int eval_batch = c.trainer.eval_batch_size.value_or(std::max(c.trainer.batch_size, 512));
  Evaluation e = evaluate(model, c, p.metadata, Batcher(p.data.columns, p.data.lazy), rows, eval_batch, true, false);
  for (const auto& f : c.output_features) {
    if (output_kind(f.type).calibrates(f)) output_kind(f.type).calibrate(f, p.metadata.at(f.name), e.logits.at(f.name));
    if (DecoderBase* d = model.decoder(f.name); d->calibrates())
      d->calibrate(e.logits.at(f.name), p.data.columns.at(f.name).index_select(0, rows));
  }
  return true;
}

}  // namespace

int run_train(const TrainOptions& o, bool then_evaluate_test) {
  auto t0 = std::chrono::steady_clock::now();
  Config c = load_config(o.config_path);
  if (o.random_seed) c.random_seed = *o.random_seed;
  if (o.epochs) c.trainer.epochs = *o.epochs, c.trainer.train_steps.reset();
  const int threads = resolve_threads(o.threads, c.trainer.threads);
  torch::set_num_threads(threads);
  const ThreadScope thread_scope(threads);  // for the decoders and loops below
  check_writable(o.output_directory);
  const std::string model_dir = path_join(o.output_directory, "model");
  const std::string checkpoint = path_join(path_join(model_dir, "checkpoints"), "latest.pt");
  if (o.resume && !file_exists(checkpoint))
    throw ModelError(checkpoint + ": no checkpoint to resume from (train without --resume)");
  check_model_dir_free(model_dir, o.resume, o.overwrite);  // before minutes of preprocessing
  check_class_balancing(c);

  PrepareOptions po;
  po.threads = threads;
  po.quiet = o.quiet;
  if (o.use_cache) po.cache_dir = o.cache_dir.empty() ? default_cache_dir() : o.cache_dir;
  po.keep_in_memory = o.keep_prepared;
  Prepared p = prepare_training_data(c, o.dataset, po);
  if (!o.quiet)
    std::fprintf(stderr, "kiln: %lld rows (%lld dropped): %lld training, %lld validation, "
                         "%lld test; preprocessing %.2fs%s\n",
                 (long long)p.rows, (long long)p.dropped_rows, (long long)p.data.train.size(0),
                 (long long)p.data.validation.size(0), (long long)p.data.test.size(0), p.seconds,
                 p.from_cache ? " (cache)" : "");

  if (o.require_validation && p.data.validation.size(0) == 0)
    throw DataError(o.dataset + ": the validation split is empty; hyperopt compares trials on it "
                    "(add validation rows, or set preprocessing.split)");
  if (o.cv_folds > 1) use_cv_fold(p.data, c, o.cv_folds, o.cv_fold, o.cv_seed);
  balance_classes(p.data, c, o.quiet);
  if (o.hide_test) p.data.test = p.data.test.slice(0, 0, 0);  // not even evaluated per epoch
  torch::manual_seed(static_cast<uint64_t>(c.seed()));
  EcdModel model(c, p.metadata);
  // Pretrained weights are read before anything is written (a resume reads its checkpoint's).
  if (!o.resume) model.init_pretrained();
  make_dirs(o.output_directory);
  const DirLock lock(o.output_directory);  // or throws: another Kiln run writes here
  check_model_dir_free(model_dir, o.resume, o.overwrite);  // again: a run may have finished meanwhile
  if (o.overwrite && !o.resume) clear_previous_run(o.output_directory, model_dir);
  make_dirs(model_dir);
  write_model_files(model_dir, c, p.metadata);
  if (!p.drift_reference.empty())
    write_file_atomic(path_join(model_dir, "drift_reference.json"), p.drift_reference);

  TrainRun run;
  run.model_dir = model_dir;
  run.resume = o.resume;
  run.quiet = o.quiet;
  run.should_stop = o.should_stop;
  run.on_epoch = o.on_epoch;
  TrainOutcome t = train_model(model, c, p.metadata, p.data, run);
  if (t.best_epoch > 0 && calibrate_outputs(model, c, p)) {
    write_model_files(model_dir, c, p.metadata);
    save_weights(model, path_join(model_dir, "weights.pt"));  // with what the decoders learned
  }
  const std::string run_id = new_run_id();
  const std::string model_files = seal_model(model_dir, run_id);
  write_file_atomic(path_join(o.output_directory, "training_statistics.json"), t.stats.to_json());

  if (o.outcome)
    *o.outcome = {t.epochs, t.best_epoch, t.best_value, t.seconds, t.interrupted, p.from_cache};
  if (then_evaluate_test && p.data.test.size(0) > 0 && t.best_epoch > 0) {
    const int eval_batch = c.trainer.eval_batch_size.value_or(std::max(c.trainer.batch_size, 512));
    Evaluation e = evaluate(model, c, p.metadata, Batcher(p.data.columns, p.data.lazy), p.data.test, eval_batch,
                            false, true, &p.data.slices);
    e.gates = check_gates(c, e, &t.stats, t.best_epoch);
    write_file_atomic(path_join(o.output_directory, "test_statistics.json"),
                      evaluation_to_json(e));
    std::cout << format_metrics("test", e);
  }
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  write_file_atomic(path_join(o.output_directory, "description.json"),
                    description_json(o, c, p, t, threads, model.num_parameters(), model.num_parameters(true), total, run_id, model_files));
  if (!o.quiet)
    std::fprintf(stderr, "kiln: trained %d epochs in %.2fs (best epoch %d); model in %s\n",
                 t.epochs, t.seconds, t.best_epoch, model_dir.c_str());
  return 0;
}

}  // namespace kiln
