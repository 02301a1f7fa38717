#include "train/trainer.h"

#include <ATen/autocast_mode.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/serialize.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <csignal>
#include <cstdlib>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "features/feature.h"
#include "train/batcher.h"
#include "train/flat_parameters.h"
#include "train/loss_balancing.h"
#include "train/optimizer_state.h"
#include "train/optimizers.h"
#include "util/archive.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/tensor_bytes.h"
#include "util/strings.h"

namespace kiln {
namespace {

// bfloat16 autocast of the forward pass for as long as it lives (trainer.use_mixed_precision).
class MixedPrecision {
 public:
  explicit MixedPrecision(bool on) : on_(on) {
    if (!on_) return;
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
  ~MixedPrecision() {
    if (!on_) return;
    at::autocast::set_cpu_enabled(false);
    at::autocast::clear_cache();
  }
  MixedPrecision(const MixedPrecision&) = delete;
  MixedPrecision& operator=(const MixedPrecision&) = delete;

 private:
  bool on_;
};

// The best bfloat16 instructions oneDNN will use here: the CPU's flags (/proc/cpuinfo), capped as
// oneDNN caps itself by ONEDNN_MAX_CPU_ISA (or DNNL_MAX_CPU_ISA).
enum class Bf16Isa { none, avx512_bf16, amx };

Bf16Isa bf16_isa() {
  static const Bf16Isa isa = [] {
    std::ifstream in("/proc/cpuinfo");
    std::string line, flags;
    while (std::getline(in, line))
      if (line.rfind("flags", 0) == 0) {
        flags = line + " ";
        break;
      }
    Bf16Isa cpu = flags.find(" amx_bf16 ") != std::string::npos      ? Bf16Isa::amx
                  : flags.find(" avx512_bf16 ") != std::string::npos ? Bf16Isa::avx512_bf16
                                                                     : Bf16Isa::none;
    const char* cap = std::getenv("ONEDNN_MAX_CPU_ISA");
    if (!cap) cap = std::getenv("DNNL_MAX_CPU_ISA");
    if (!cap) return cpu;
    const std::string c = to_lower(cap);
    if (c == "all" || c.find("amx") != std::string::npos) return cpu;
    if (c == "avx512_core_bf16" || c == "avx512_core_fp16") return std::min(cpu, Bf16Isa::avx512_bf16);
    return Bf16Isa::none;
  }();
  return isa;
}

// trainer.use_mixed_precision: true / false, or auto (Kiln's default): bfloat16 for models with a
// text or sequence input, where the CPU's bfloat16 instructions were measured to pay. There the
// time goes to convolutions, recurrences and attention over hundreds of steps. spam_assassin's
// parallel_cnn (../shared/bench/configs/spam_assassin.yaml, 5 epochs), whole `kiln experiment`
// runs, 2 cores of a Xeon (Sapphire Rapids), 2026-12-07 (after the fused ReLU + masked sum, which
// serves float32 only); without AMX measured on the same Xeon with oneDNN capped
// (ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16), as on an AVX512-BF16 CPU (AMD Zen 4):
//   bfloat16 ISA                       float32       bfloat16       auto
//   AMX (amx_bf16)                     41.1-42.3 s   20.9-21.8 s    bfloat16 (0.36x ref_torch's 58.6 s)
//   AVX512-BF16 without AMX            40.7-42.7 s   63.8-65.6 s    float32 (0.71-0.74x ref's 57.4-59.5 s)
//   none (AVX2, AVX-512 without BF16)  -             emulated       float32
// (float32 runs the same AVX-512 kernels with or without AMX.) Test accuracy moves by at most 0.2
// points either way. Image and tabular layers here are too small to gain (fashion_mnist_small:
// the same time, about a point less accurate), so they stay float32.
constexpr Bf16Isa kBf16AutoFrom = Bf16Isa::amx;  // the first row of the table above that pays

bool use_bfloat16(const Config& c) {
  const int choice = parse_auto_bool(c.trainer.use_mixed_precision);
  if (choice >= 0) return choice == 1;
  if (bf16_isa() < kBf16AutoFrom) return false;
  for (const auto& f : c.input_features)
    if (feature_kind(f.type).token_sequence()) return true;
  return false;
}

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct State {
  int epochs_done = 0;
  int best_epoch = 0;
  double best_value = 0;
  bool has_best = false;
  int since_best = 0;
  int plateau_wait = 0;
  int reductions = 0;
  bool early_stopped = false;
  // trainer.model_soup: the best epochs so far (1-based epoch, validation value), best first; their
  // weights are checkpoints/soup_epoch<N>.pt.
  std::vector<std::pair<int, double>> soup;
};

// The counters of State, by name in checkpoints (model format 1). Checkpoints from before wrote
// them as one tensor "state" in this order.
const char* const kCounters[6] = {"epochs_done", "best_epoch", "has_best", "since_best", "plateau_wait", "reductions"};

std::array<int64_t, 6> counter_values(const State& s) {
  return {s.epochs_done, s.best_epoch, s.has_best, s.since_best, s.plateau_wait, s.reductions};
}

void set_counters(State& s, const std::array<int64_t, 6>& v) {
  s.epochs_done = static_cast<int>(v[0]);
  s.best_epoch = static_cast<int>(v[1]);
  s.has_best = v[2] != 0;
  s.since_best = static_cast<int>(v[3]);
  s.plateau_wait = static_cast<int>(v[4]);
  s.reductions = static_cast<int>(v[5]);
}

// Where each trainable parameter sits in the flat buffer the optimizer runs on, by name.
std::vector<ParameterSlice> parameter_slices(EcdModel& model, const std::vector<torch::Tensor>& trainable) {
  std::map<const void*, std::string> names;
  for (const auto& [name, t] : model.named_state()) names[t.unsafeGetTensorImpl()] = name;
  std::vector<ParameterSlice> out;
  int64_t offset = 0;
  for (const auto& p : trainable) {
    out.push_back({names.at(p.unsafeGetTensorImpl()), offset, p.sizes().vec()});
    offset += p.numel();
  }
  return out;
}

// Checkpoints of model format 1 recorded the flat buffer's layout beside torch's optimizer
// archive; a resume whose model lays its parameters out differently is refused there.
std::string legacy_parameter_layout(const std::vector<ParameterSlice>& slices) {
  std::string out;
  for (const auto& s : slices) {
    int64_t n = 1;
    for (int64_t d : s.shape) n *= d;
    out += s.name + " " + std::to_string(n) + "\n";
  }
  return out;
}

void save_checkpoint(const std::string& path, EcdModel& model, torch::optim::Optimizer& opt,
                     const torch::Tensor& flat, const std::vector<ParameterSlice>& slices, const State& s,
                     const TrainingStatistics& stats, const LossBalancer* balancer) {
  torch::serialize::OutputArchive ar, mar, oar;
  write_state(model, mar);
  write_optimizer_state(opt, flat, slices, oar);
  ar.write("model", mar);
  ar.write("optimizer_state", oar);
  const auto values = counter_values(s);
  for (size_t i = 0; i < values.size(); ++i) ar.write(kCounters[i], torch::tensor(values[i]));
  ar.write("best_value", torch::tensor({s.best_value}, torch::kFloat64));
  ar.write("statistics", bytes_tensor(stats.to_json()));
  if (!s.soup.empty()) {
    std::vector<int64_t> epochs;
    std::vector<double> values;
    for (const auto& [e, v] : s.soup) epochs.push_back(e), values.push_back(v);
    ar.write("soup_epochs", torch::tensor(epochs, torch::kInt64));
    ar.write("soup_values", torch::tensor(values, torch::kFloat64));
  }
  if (balancer) {
    torch::serialize::OutputArchive bar;
    balancer->save(bar);
    ar.write("loss_balancer", bar);
  }
  save_archive(ar, path);
}

// Reading a checkpoint has two phases: the model's weights must be loaded before its parameters
// are packed into the flat buffer (loading replaces a tensor's storage), the optimizer's state
// after the optimizer exists.
class Checkpoint {
 public:
  explicit Checkpoint(const std::string& path) : path_(path) {
    try {
      ar_.load_from(path);
    } catch (const c10::Error& e) {
      fail(e);
    }
  }
  void load_model(EcdModel& model) {
    try {
      torch::serialize::InputArchive mar;
      ar_.read("model", mar);
      read_state(model, mar, path_);
    } catch (const c10::Error& e) {
      fail(e);
    }
  }
  void load_rest(torch::optim::Optimizer& opt, const torch::Tensor& flat, const std::vector<ParameterSlice>& slices,
                 State& s, TrainingStatistics& stats, LossBalancer* balancer) {
    try {
      torch::serialize::InputArchive bar;
      if (balancer && ar_.try_read("loss_balancer", bar)) balancer->load(bar);
      torch::serialize::InputArchive oar;
      if (ar_.try_read("optimizer_state", oar)) {
        read_optimizer_state(opt, flat, slices, oar, path_);
      } else {  // model format 0 and 1: torch's optimizer archive, in the flat buffer's order
        torch::Tensor layout;
        if (ar_.try_read("parameter_layout", layout) && tensor_bytes(layout) != legacy_parameter_layout(slices))
          throw ModelError(path_ + ": the optimizer state was saved for another parameter layout than "
                           "this model's (a different config or Kiln version); --overwrite starts over");
        ar_.read("optimizer", oar);
        opt.load(oar);
      }
      torch::Tensor best, js;
      std::array<int64_t, 6> values{};
      torch::Tensor one;
      if (ar_.try_read(kCounters[0], one)) {
        for (size_t i = 0; i < values.size(); ++i) {
          ar_.read(kCounters[i], one);
          values[i] = one.item<int64_t>();
        }
      } else {  // before model format 1: one tensor in kCounters' order
        torch::Tensor st;
        ar_.read("state", st);
        auto a = st.accessor<int64_t, 1>();
        for (size_t i = 0; i < values.size(); ++i) values[i] = a[static_cast<int64_t>(i)];
      }
      set_counters(s, values);
      ar_.read("best_value", best);
      ar_.read("statistics", js);
      s.best_value = best.item<double>();
      stats = TrainingStatistics::from_json(tensor_bytes(js));
      torch::Tensor soup_epochs, soup_values;
      s.soup.clear();
      if (ar_.try_read("soup_epochs", soup_epochs) && ar_.try_read("soup_values", soup_values))
        for (int64_t i = 0; i < soup_epochs.numel(); ++i)
          s.soup.emplace_back(static_cast<int>(soup_epochs[i].item<int64_t>()), soup_values[i].item<double>());
    } catch (const c10::Error& e) {
      fail(e);
    }
  }

 private:
  [[noreturn]] void fail(const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    throw ModelError(path_ + ": corrupt checkpoint (" + msg.substr(0, msg.find('\n')) + ")");
  }
  std::string path_;
  torch::serialize::InputArchive ar_;
};

class Progress {
 public:
  Progress(bool quiet) : enabled_(!quiet && ::isatty(2)) {}
  void update(int epoch, int epochs, int64_t step, int64_t steps, int64_t rows, double secs) {
    if (!enabled_) return;
    const int width = 30;
    int filled = static_cast<int>(width * step / std::max<int64_t>(1, steps));
    double rate = secs > 0 ? rows / secs : 0;
    double eta = step > 0 ? secs * (steps - step) / step : 0;
    std::fprintf(stderr, "\r\033[Kepoch %d/%d [%.*s%*s] %lld/%lld %.0f rows/s ETA %.1fs", epoch,
                 epochs, filled, "##############################", width - filled, "",
                 static_cast<long long>(step), static_cast<long long>(steps), rate, eta);
  }
  void clear() {
    if (enabled_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  bool enabled_;
};

}  // namespace

double scheduled_lr(const Config& c, int64_t step, int64_t total, int64_t steps_per_epoch) {
  const auto& s = c.trainer.learning_rate_scheduler;
  const double base = c.trainer.learning_rate;
  int64_t warmup = static_cast<int64_t>(std::llround(s.warmup_fraction * total));
  warmup = std::max<int64_t>(warmup, static_cast<int64_t>(s.warmup_evaluations) * steps_per_epoch);
  if (step < warmup) return base * static_cast<double>(step + 1) / warmup;
  double progress = total > warmup ? static_cast<double>(step - warmup) / (total - warmup) : 0.0;
  if (s.decay == "linear") return std::max(s.min_lr, base * (1.0 - progress));
  if (s.decay == "cosine")
    return s.min_lr + 0.5 * (base - s.min_lr) * (1.0 + std::cos(M_PI * progress));
  if (s.decay == "exponential") {
    double p = static_cast<double>(step - warmup) / std::max(1, s.decay_steps);
    if (s.staircase) p = std::floor(p);
    return std::max(s.min_lr, base * std::pow(s.decay_rate, p));
  }
  return base;
}

TrainOutcome train_model(EcdModel& model, const Config& c, const MetadataMap& meta,
                         const Dataset& data, const TrainRun& run) {
  const auto& tc = c.trainer;
  const int seed = c.seed();
  const int64_t n_train = data.train.size(0);
  const int64_t steps_per_epoch = (n_train + tc.batch_size - 1) / tc.batch_size;
  int epochs = tc.epochs;
  int64_t total_steps = static_cast<int64_t>(epochs) * steps_per_epoch;
  if (tc.train_steps) {
    total_steps = *tc.train_steps;
    epochs = static_cast<int>((total_steps + steps_per_epoch - 1) / steps_per_epoch);
  }
  const int eval_batch = tc.eval_batch_size.value_or(std::max(tc.batch_size, 512));
  const std::string field = c.validation_field();
  const std::string metric = c.validation_metric();
  const bool higher = higher_is_better(metric);
  const bool has_validation = data.validation.size(0) > 0;
  const std::string watch_split = has_validation ? "validation" : "training";

  const std::string ckpt_dir = path_join(run.model_dir, "checkpoints");
  const std::string ckpt = path_join(ckpt_dir, "latest.pt");
  const std::string best_path = path_join(run.model_dir, "weights.pt");
  std::unique_ptr<Checkpoint> resume_from;
  if (run.resume) {
    if (!file_exists(ckpt))
      throw ModelError(ckpt + ": no checkpoint to resume from (train without --resume)");
    resume_from = std::make_unique<Checkpoint>(ckpt);
    resume_from->load_model(model);
  }
  auto params = model.parameters();
  std::vector<torch::Tensor> trainable;
  for (auto& p : params)
    if (p.requires_grad()) trainable.push_back(p);
  FlatParameters flat(trainable);
  std::vector<double> loss_weights;
  for (const auto& f : c.output_features) loss_weights.push_back(f.loss.weight);
  const std::unique_ptr<LossBalancer> balancer = make_loss_balancer(tc, loss_weights);
  auto soup_path = [&](int epoch) { return path_join(ckpt_dir, "soup_epoch" + std::to_string(epoch) + ".pt"); };
  const std::vector<ParameterSlice> slices = parameter_slices(model, trainable);
  auto optimizer = (*optimizer_builders().find(tc.optimizer.type))(
      *tc.optimizer.options, std::vector<torch::Tensor>{flat.flat()}, tc.learning_rate, slices);
  // schedule_free_adamw: evaluated, saved and checkpointed at its averaged weights.
  auto* eval_weights = dynamic_cast<EvalWeights*>(optimizer.get());
  const Batcher batcher(data.columns, data.lazy);
  make_dirs(ckpt_dir);
  const bool bf16 = use_bfloat16(c);
  const bool lbfgs = dynamic_cast<torch::optim::LBFGS*>(optimizer.get()) != nullptr;

  // One batch's losses: `loss` (the weighted sum, reported), `minimized` (the balancer's, if any),
  // both with the regularization; `task_losses` before loss.weight (for the balancer); `sums`, each
  // output's summed row losses.
  struct StepLoss {
    torch::Tensor loss, minimized;
    std::vector<torch::Tensor> task_losses;
    std::map<std::string, double> sums;
  };
  auto step_loss = [&](const Batch& b) {
    StepLoss s;
    std::map<std::string, torch::Tensor> logits;
    {
      MixedPrecision mp(bf16);
      logits = model.forward(b);
    }
    if (bf16)
      for (auto& [name, l] : logits) l = l.to(torch::kFloat32);  // losses in float32
    s.loss = torch::zeros({}, torch::kFloat32);
    for (const auto& f : c.output_features) {
      auto l = output_kind(f.type).loss(f, meta.at(f.name), logits.at(f.name), b.at(f.name));
      s.loss = s.loss + l.mean;
      s.sums[f.name] += l.sum;
      if (balancer) s.task_losses.push_back(f.loss.weight != 0 ? l.mean / f.loss.weight : l.mean);
    }
    s.minimized = balancer ? balancer->combine(s.task_losses) : s.loss;
    if (tc.regularization_lambda > 0) {
      torch::Tensor reg = torch::zeros({});
      for (auto& p : trainable) {
        if (tc.regularization_type != "l2") reg = reg + p.abs().sum();
        if (tc.regularization_type != "l1") reg = reg + p.pow(2).sum();
      }
      s.loss = s.loss + tc.regularization_lambda * reg;
      if (balancer) s.minimized = s.minimized + tc.regularization_lambda * reg;
      else s.minimized = s.loss;
    }
    return s;
  };
  auto clip_gradients = [&] {
    const auto& gc = tc.gradient_clipping;
    if (gc.clipvalue) torch::nn::utils::clip_grad_value_(flat.flat(), *gc.clipvalue);
    if (gc.clipnorm)
      for (auto& p : trainable) torch::nn::utils::clip_grad_norm_(p, *gc.clipnorm);
    if (gc.clipglobalnorm) torch::nn::utils::clip_grad_norm_(flat.flat(), *gc.clipglobalnorm);
  };
  if (bf16 && !run.quiet && parse_auto_bool(tc.use_mixed_precision) < 0)
    std::fprintf(stderr, "kiln: training in bfloat16 (trainer.use_mixed_precision: auto; this CPU has "
                         "AMX and the model has a text or sequence input; false keeps float32)\n");

  // KILN_TEST_KILL_AFTER_STEPS=N makes the process kill itself (SIGKILL) after global step N,
  // so the resume test interrupts training mid-epoch at a reproducible point.
  int64_t abort_after_steps = -1;
  if (const char* k = std::getenv("KILN_TEST_KILL_AFTER_STEPS")) abort_after_steps = std::atoll(k);
  State st;
  TrainOutcome out;
  out.bfloat16 = bf16;
  if (resume_from) {
    resume_from->load_rest(*optimizer, flat.flat(), slices, st, out.stats, balancer.get());
    if (eval_weights) eval_weights->use_train_weights();  // the checkpoint holds the evaluation weights
    out.resumed_from = st.epochs_done;
    st.early_stopped = tc.early_stop > 0 && st.since_best >= tc.early_stop;
    if (!run.quiet)
      std::cerr << "kiln: resuming after epoch " << st.epochs_done << " from " << ckpt << "\n";
  }

  Progress progress(run.quiet);
  bool warned_untrainable = false;
  auto t_start = Clock::now();
  model.train();
  while (st.epochs_done < epochs && !st.early_stopped) {
    const int epoch = st.epochs_done;  // 0-based
    auto t_epoch = Clock::now();
    // Seeds depend only on (seed, epoch), so a resumed run replays exactly.
    torch::manual_seed(static_cast<uint64_t>(seed) * 1000003ull + epoch);
    torch::Tensor order;
    if (tc.should_shuffle) {
      auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(seed) * 7919ull + epoch);
      order = data.train.index_select(0, torch::randperm(n_train, gen, torch::kLong));
    } else {
      order = data.train;
    }
    double loss_sum = 0;
    std::map<std::string, double> out_loss_sum;
    int64_t rows_seen = 0;
    int64_t steps_this_epoch = steps_per_epoch;
    if (tc.train_steps)
      steps_this_epoch = std::min<int64_t>(steps_per_epoch, total_steps - epoch * steps_per_epoch);
    bool abandoned = false;
    auto rows_of = [&](int64_t step) {
      return order.slice(0, step * tc.batch_size, std::min<int64_t>(n_train, (step + 1) * tc.batch_size));
    };
    BatchStream stream(batcher, rows_of, steps_this_epoch);
    for (int64_t step = 0; step < steps_this_epoch; ++step) {
      if (run.should_stop && run.should_stop()) {
        abandoned = true;
        break;
      }
      int64_t global = epoch * steps_per_epoch + step;
      double lr = scheduled_lr(c, global, total_steps, steps_per_epoch) *
                  std::pow(tc.learning_rate_scheduler.reduce_on_plateau_rate, st.reductions);
      set_learning_rate(*optimizer, std::max(lr, tc.learning_rate_scheduler.min_lr));
      auto idx = rows_of(step);
      Batch b = stream.next();
      flat.zero_grad();
      StepLoss sl = step_loss(b);
      torch::Tensor &loss = sl.loss, &minimized = sl.minimized;
      const std::vector<torch::Tensor>& task_losses = sl.task_losses;
      for (const auto& [name, sum] : sl.sums) out_loss_sum[name] += sum;
      double lv = loss.item<double>();
      if (balancer && !std::isfinite(minimized.item<double>())) lv = minimized.item<double>();
      if (!std::isfinite(lv))
        throw ModelError("training diverged at epoch " + std::to_string(epoch + 1) + ", step " +
                         std::to_string(step + 1) +
                         ": the loss is not finite (lower trainer.learning_rate)");
      if (!minimized.requires_grad()) {
        // No weight lies between the inputs and the losses (e.g. number inputs, passthrough
        // encoders, a concat combiner without fc layers, an anomaly output): nothing to learn.
        if (!warned_untrainable && !run.quiet)
          std::fprintf(stderr, "kiln: warning: no trainable weight lies between the inputs and the outputs' "
                               "losses, so training changes nothing (add fc_layers to the combiner or the decoder)\n");
        warned_untrainable = true;
        loss_sum += lv * idx.size(0);
        rows_seen += idx.size(0);
        continue;
      }
      minimized.backward();
      clip_gradients();
      if (lbfgs) {
        // L-BFGS evaluates the loss on this batch again as often as it needs (the statistics are
        // those of the first evaluation, before the step, as for every optimizer).
        optimizer->step([&] {
          flat.zero_grad();
          torch::Tensor m = step_loss(b).minimized;
          m.backward();
          clip_gradients();
          return m.detach();
        });
      } else {
        optimizer->step();
      }
      if (balancer) {
        std::vector<double> seen;
        for (const auto& t : task_losses) seen.push_back(t.item<double>());
        balancer->after_step(seen);
      }
      if (abort_after_steps >= 0 && global + 1 >= abort_after_steps)
        std::raise(SIGKILL);  // test hook: an abrupt kill -9 at an exact step
      loss_sum += lv * idx.size(0);
      rows_seen += idx.size(0);
      progress.update(epoch + 1, epochs, step + 1, steps_this_epoch, rows_seen,
                      seconds_since(t_epoch));
    }
    progress.clear();
    if (abandoned) {
      out.interrupted = true;
      if (!run.quiet)
        std::fprintf(stderr, "stopped during epoch %d (best epoch %d)\n", epoch + 1, st.best_epoch);
      break;
    }
    double train_secs = seconds_since(t_epoch);
    if (eval_weights) eval_weights->use_eval_weights();

    // Evaluation: the training loss seen during the epoch, then validation and test.
    if (tc.evaluate_training_set) {
      out.stats.append("training", evaluate(model, c, meta, batcher, data.train, eval_batch,
                                            false));
    } else {
      auto& s = out.stats.splits["training"];
      for (const auto& f : c.output_features)
        s[f.name]["loss"].push_back(rows_seen ? out_loss_sum[f.name] / rows_seen : 0);
      s["combined"]["loss"].push_back(rows_seen ? loss_sum / rows_seen : 0);
    }
    double watched = std::nan("");
    const auto t_eval = Clock::now();
    if (has_validation) {
      auto ev = evaluate(model, c, meta, batcher, data.validation, eval_batch, false, true,
                         &data.slices);
      out.stats.append("validation", ev);
      watched = field == "combined" ? ev.combined_loss : ev.outputs.at(field)->value(metric);
    } else {
      auto ev = evaluate(model, c, meta, batcher, data.train, eval_batch, false);
      watched = field == "combined" ? ev.combined_loss : ev.outputs.at(field)->value(metric);
    }
    const double eval_secs = seconds_since(t_eval);
    if (data.test.size(0) > 0)
      out.stats.append("test", evaluate(model, c, meta, batcher, data.test, eval_batch, false,
                                        true, &data.slices));

    st.epochs_done = epoch + 1;
    bool improved = !st.has_best ||
                    (std::isfinite(watched) &&
                     (higher ? watched > st.best_value : watched < st.best_value)) ||
                    (!std::isfinite(st.best_value) && std::isfinite(watched));
    if (improved) {
      st.has_best = true;
      st.best_value = watched;
      st.best_epoch = epoch + 1;
      st.since_best = 0;
      st.plateau_wait = 0;
      save_weights(model, best_path);
    } else {
      ++st.since_best;
      ++st.plateau_wait;
      const auto& ls = tc.learning_rate_scheduler;
      if (ls.reduce_on_plateau > 0 && st.reductions < ls.reduce_on_plateau &&
          st.plateau_wait >= ls.reduce_on_plateau_patience) {
        ++st.reductions;
        st.plateau_wait = 0;
      }
    }
    if (tc.early_stop > 0 && st.since_best >= tc.early_stop) st.early_stopped = true;
    std::vector<std::string> evicted;  // removed once the checkpoint no longer names them
    if (tc.model_soup && std::isfinite(watched)) {
      save_weights(model, soup_path(epoch + 1));
      st.soup.emplace_back(epoch + 1, watched);
      std::stable_sort(st.soup.begin(), st.soup.end(), [&](const auto& a, const auto& b) {
        return higher ? a.second > b.second : a.second < b.second;
      });
      while (static_cast<int>(st.soup.size()) > tc.model_soup_top_k) {
        evicted.push_back(soup_path(st.soup.back().first));
        st.soup.pop_back();
      }
    }
    save_checkpoint(ckpt, model, *optimizer, flat.flat(), slices, st, out.stats, balancer.get());
    for (const auto& f : evicted) std::remove(f.c_str());
    if (eval_weights) eval_weights->use_train_weights();

    if (!run.quiet) {
      const auto& tr = out.stats.splits["training"]["combined"]["loss"];
      std::fprintf(stderr, "epoch %d/%d  train loss %.4f  %s %s %s %.4f%s  %.2fs (%.0f rows/s)\n",
                   epoch + 1, epochs, tr.back(), watch_split.c_str(), field.c_str(),
                   metric.c_str(), watched, improved ? " *" : "", seconds_since(t_epoch),
                   train_secs > 0 ? rows_seen / train_secs : 0.0);
      if (st.early_stopped)
        std::fprintf(stderr, "early stop: no improvement of %s %s for %d epochs; best epoch %d\n",
                     field.c_str(), metric.c_str(), tc.early_stop, st.best_epoch);
    }
    if (run.on_epoch && !run.on_epoch(st.epochs_done, watched, eval_secs) && st.epochs_done < epochs &&
        !st.early_stopped) {
      out.interrupted = true;
      break;
    }
  }
  out.seconds = seconds_since(t_start);
  out.epochs = st.epochs_done;
  out.best_epoch = st.best_epoch;
  out.best_value = st.best_value;
  out.early_stopped = st.early_stopped;
  if (st.best_epoch > 0) load_weights(model, best_path);  // the best epoch's weights are the model
  // trainer.model_soup: the model is the average of the best epochs' weights instead (every
  // parameter and buffer, as Ludwig's uniform soup); greedy keeps an epoch only if the soup's
  // validation metric does not get worse with it (Ludwig falls back to uniform).
  st.soup.erase(std::remove_if(st.soup.begin(), st.soup.end(),
                               [&](const auto& e) { return !file_exists(soup_path(e.first)); }),
                st.soup.end());  // a finished run resumed: its soup was served already
  if (tc.model_soup && st.soup.size() > 1) {
    auto cook = [&](const std::vector<int>& epochs) {
      std::vector<torch::Tensor> sum;
      for (int e : epochs) {
        load_weights(model, soup_path(e));
        const auto state = model.named_state();
        for (size_t j = 0; j < state.size(); ++j) {
          auto t = state[j].second.detach().to(torch::kFloat64);
          if (sum.size() <= j) sum.push_back(t.clone());
          else sum[j] += t;
        }
      }
      torch::NoGradGuard no_grad;
      const auto state = model.named_state();
      for (size_t j = 0; j < state.size(); ++j)
        state[j].second.copy_((sum[j] / static_cast<double>(epochs.size())).to(state[j].second.scalar_type()));
    };
    auto value = [&] {
      auto ev = evaluate(model, c, meta, batcher, has_validation ? data.validation : data.train, eval_batch, false);
      return field == "combined" ? ev.combined_loss : ev.outputs.at(field)->value(metric);
    };
    std::vector<int> chosen;
    double soup_value = st.soup[0].second;
    if (*tc.model_soup == "greedy") {
      chosen = {st.soup[0].first};
      for (size_t i = 1; i < st.soup.size(); ++i) {
        std::vector<int> candidate = chosen;
        candidate.push_back(st.soup[i].first);
        cook(candidate);
        const double v = value();
        if (std::isfinite(v) && (higher ? v >= soup_value : v <= soup_value)) chosen = candidate, soup_value = v;
      }
    } else {
      for (const auto& e : st.soup) chosen.push_back(e.first);
    }
    cook(chosen);
    if (*tc.model_soup == "uniform" || chosen.size() > 1) soup_value = value();
    save_weights(model, best_path);
    for (const auto& e : st.soup) std::remove(soup_path(e.first).c_str());
    out.soup_epochs = chosen;
    if (!run.quiet) {
      std::vector<std::string> names;
      for (int e : chosen) names.push_back(std::to_string(e));
      std::fprintf(stderr, "model soup (%s) of epochs %s: %s %s %s %.4f (best epoch %d: %.4f)\n", tc.model_soup->c_str(),
                   join(names, ", ").c_str(), watch_split.c_str(), field.c_str(), metric.c_str(), soup_value,
                   st.best_epoch, st.best_value);
    }
  }
  return out;
}

}  // namespace kiln
