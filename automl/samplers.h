#pragma once
// Samplers propose each trial's point in the search space; schedulers decide, epoch by epoch,
// whether a running trial goes on. Both work on internal coordinates (ParamSpace::value turns
// them into config values) and are registered by their config names.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "automl/search_space.h"
#include "util/registry.h"

namespace kiln {

struct Observation {
  std::vector<double> x;  // internal coordinates, one per parameter
  double loss;            // lower is better (the metric, negated when the goal is maximize)
};

class Sampler {
 public:
  virtual ~Sampler() = default;
  // The point of trial `index` (0-based) given the trials finished so far. Deterministic in
  // (random_state, index, done), so a resumed study proposes what the interrupted one would have.
  virtual std::vector<double> suggest(int64_t index, const std::vector<Observation>& done) = 0;
};

// random: independent draws; grid_search parameters are enumerated (Ray's variant generator:
// the grid is repeated num_samples times). tpe: Tree-structured Parzen Estimator.
using SamplerFactory = std::function<std::unique_ptr<Sampler>(const HyperoptSpec&)>;
Registry<SamplerFactory>& sampler_registry();
std::unique_ptr<Sampler> make_sampler(const HyperoptSpec& h);

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // A trial reports its validation score (higher is better) after `epoch` (1-based).
  // Returns false when the trial should stop now.
  virtual bool on_result(int64_t trial, int epoch, double score) = 0;
};

// fifo: never stops a trial. asha: asynchronous successive halving (Li et al. 2018, as in Ray
// Tune's AsyncHyperBand): rungs at grace_period * reduction_factor^k epochs (below max_t); a
// trial reaching a rung goes on only if its score is in the top 1/reduction_factor of the scores
// recorded at that rung so far.
using SchedulerFactory = std::function<std::unique_ptr<Scheduler>(const HyperoptSpec&, int max_t)>;
Registry<SchedulerFactory>& scheduler_registry();
std::unique_ptr<Scheduler> make_scheduler(const HyperoptSpec& h, int max_t);

}  // namespace kiln
