#include "automl/samplers.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace kiln {
namespace {

std::mt19937_64 rng_for(int64_t seed, int64_t index) {
  std::seed_seq s{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(index),
                  static_cast<uint32_t>(index >> 32), 0x6b696c6eu};
  return std::mt19937_64(s);
}

class RandomSampler : public Sampler {
 public:
  explicit RandomSampler(const HyperoptSpec& h) : h_(h) {}
  std::vector<double> suggest(int64_t index, const std::vector<Observation>&) override {
    auto rng = rng_for(h_.random_state, index);
    std::vector<double> x;
    int64_t cell = index % std::max<int64_t>(1, h_.grid_size());
    for (const auto& p : h_.parameters) {
      if (p.type == SpaceType::grid_search) {  // mixed-radix digit of the grid cell
        int64_t n = static_cast<int64_t>(p.categories.size());
        x.push_back(static_cast<double>(cell % n));
        cell /= n;
        rng.discard(1);
      } else {
        x.push_back(p.sample_internal(rng));
      }
    }
    return x;
  }

 private:
  const HyperoptSpec h_;
};

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// One-dimensional Parzen estimator over a bounded interval: truncated Gaussians at the
// observations plus a wide prior component at the interval's centre (Bergstra et al. 2011;
// bandwidths from the distances to the neighbours, clipped as hyperopt does).
struct Parzen {
  std::vector<double> mu, sigma;
  double lo, hi;
  Parzen(std::vector<double> xs, double lo_, double hi_) : lo(lo_), hi(hi_) {
    const double range = hi - lo;
    const double prior_mu = 0.5 * (lo + hi);
    xs.push_back(prior_mu);
    std::vector<size_t> order(xs.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return xs[a] < xs[b]; });
    const double min_sigma = range / std::min(100.0, 1.0 + xs.size());
    mu = xs;
    sigma.assign(xs.size(), range);
    for (size_t k = 0; k < order.size(); ++k) {
      size_t i = order[k];
      double left = k > 0 ? xs[i] - xs[order[k - 1]] : xs[i] - lo;
      double right = k + 1 < order.size() ? xs[order[k + 1]] - xs[i] : hi - xs[i];
      sigma[i] = std::clamp(std::max(left, right), min_sigma, range);
    }
    sigma.back() = range;  // the prior
  }
  double log_pdf(double x) const {
    double sum = 0;
    for (size_t i = 0; i < mu.size(); ++i) {
      double z = (x - mu[i]) / sigma[i];
      double mass = normal_cdf((hi - mu[i]) / sigma[i]) - normal_cdf((lo - mu[i]) / sigma[i]);
      sum += std::exp(-0.5 * z * z) / (sigma[i] * std::sqrt(2 * M_PI) * std::max(mass, 1e-12));
    }
    return std::log(std::max(sum / mu.size(), 1e-300));
  }
  double sample(std::mt19937_64& rng) const {
    size_t i = std::uniform_int_distribution<size_t>(0, mu.size() - 1)(rng);
    std::normal_distribution<double> n(mu[i], sigma[i]);
    for (int t = 0; t < 100; ++t) {
      double v = n(rng);
      if (v >= lo && v < hi) return v;
    }
    return std::clamp(mu[i], lo, std::nextafter(hi, lo));
  }
};

class TpeSampler : public Sampler {
 public:
  explicit TpeSampler(const HyperoptSpec& h) : h_(h) {}
  std::vector<double> suggest(int64_t index, const std::vector<Observation>& done) override {
    auto rng = rng_for(h_.random_state, index);
    std::vector<const Observation*> obs;
    for (const auto& o : done)
      if (std::isfinite(o.loss)) obs.push_back(&o);
    std::vector<double> x;
    if (static_cast<int>(obs.size()) < h_.n_startup_trials) {
      for (const auto& p : h_.parameters) x.push_back(p.sample_internal(rng));
      return x;
    }
    std::stable_sort(obs.begin(), obs.end(), [](auto a, auto b) { return a->loss < b->loss; });
    // Optuna's default split: the best ceil(10%) (at most 25) observations are "good".
    const size_t n_good = std::min<size_t>(25, static_cast<size_t>(std::ceil(0.1 * obs.size())));
    for (size_t j = 0; j < h_.parameters.size(); ++j) {
      const ParamSpace& p = h_.parameters[j];
      std::vector<double> good, bad;
      for (size_t i = 0; i < obs.size(); ++i) (i < n_good ? good : bad).push_back(obs[i]->x[j]);
      if (p.categorical()) {
        const size_t k = p.categories.size();
        std::vector<double> wg(k, 1.0 / k), wb(k, 1.0 / k);  // prior weight 1, spread evenly
        for (double v : good) wg[static_cast<size_t>(v)] += 1;
        for (double v : bad) wb[static_cast<size_t>(v)] += 1;
        double sg = std::accumulate(wg.begin(), wg.end(), 0.0), sb = std::accumulate(wb.begin(), wb.end(), 0.0);
        std::discrete_distribution<size_t> draw(wg.begin(), wg.end());
        double best = -std::numeric_limits<double>::infinity();
        size_t pick = 0;
        for (int c = 0; c < kCandidates; ++c) {
          size_t cand = draw(rng);
          double score = std::log(wg[cand] / sg) - std::log(wb[cand] / sb);
          if (score > best) best = score, pick = cand;
        }
        x.push_back(static_cast<double>(pick));
      } else {
        Parzen l(good, p.internal_low(), p.internal_high());
        Parzen g(bad, p.internal_low(), p.internal_high());
        double best = -std::numeric_limits<double>::infinity(), pick = l.mu.front();
        for (int c = 0; c < kCandidates; ++c) {
          double cand = l.sample(rng);
          double score = l.log_pdf(cand) - g.log_pdf(cand);
          if (score > best) best = score, pick = cand;
        }
        x.push_back(pick);
      }
    }
    return x;
  }

 private:
  static constexpr int kCandidates = 24;
  const HyperoptSpec h_;
};

class FifoScheduler : public Scheduler {
 public:
  bool on_result(int64_t, int, double) override { return true; }
};

class AshaScheduler : public Scheduler {
 public:
  AshaScheduler(const HyperoptSpec& h, int max_t) : rf_(h.reduction_factor), max_t_(max_t) {
    for (double m = h.grace_period; m < max_t; m *= rf_) rungs_.push_back({static_cast<int>(std::round(m)), {}});
    std::reverse(rungs_.begin(), rungs_.end());  // highest rung first
  }
  bool on_result(int64_t trial, int epoch, double score) override {
    if (max_t_ > 0 && epoch >= max_t_) return false;
    for (auto& [milestone, recorded] : rungs_) {
      if (epoch < milestone) continue;
      if (recorded.count(trial)) return true;  // already judged at this rung
      bool go_on = true;
      std::vector<double> v;  // the finite scores recorded (numpy's nanpercentile)
      for (const auto& [t, s] : recorded)
        if (std::isfinite(s)) v.push_back(s);
      if (!v.empty()) go_on = std::isfinite(score) && score >= quantile(v, 1.0 - 1.0 / rf_);
      recorded[trial] = std::isfinite(score) ? score : -std::numeric_limits<double>::infinity();
      return go_on;
    }
    return true;
  }

 private:
  // Linear interpolation between order statistics (numpy's default percentile).
  static double quantile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    double pos = q * (v.size() - 1);
    size_t i = static_cast<size_t>(std::floor(pos));
    if (i + 1 >= v.size()) return v.back();
    return v[i] + (pos - i) * (v[i + 1] - v[i]);
  }
  double rf_;
  int max_t_;
  std::vector<std::pair<int, std::map<int64_t, double>>> rungs_;
};

}  // namespace

Registry<SamplerFactory>& sampler_registry() {
  static Registry<SamplerFactory> r = [] {
    Registry<SamplerFactory> reg;
    reg.add("random", [](const HyperoptSpec& h) { return std::make_unique<RandomSampler>(h); });
    reg.add("tpe", [](const HyperoptSpec& h) { return std::make_unique<TpeSampler>(h); });
    return reg;
  }();
  return r;
}

std::unique_ptr<Sampler> make_sampler(const HyperoptSpec& h) { return (*sampler_registry().find(h.search_alg))(h); }

Registry<SchedulerFactory>& scheduler_registry() {
  static Registry<SchedulerFactory> r = [] {
    Registry<SchedulerFactory> reg;
    reg.add("fifo", [](const HyperoptSpec&, int) { return std::make_unique<FifoScheduler>(); });
    reg.add("asha", [](const HyperoptSpec& h, int max_t) { return std::make_unique<AshaScheduler>(h, max_t); });
    return reg;
  }();
  return r;
}

std::unique_ptr<Scheduler> make_scheduler(const HyperoptSpec& h, int max_t) {
  return (*scheduler_registry().find(h.scheduler))(h, max_t);
}

}  // namespace kiln
