#include "train/optimizer_state.h"

#include <torch/optim.h>
#include <torch/torch.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <sstream>

#include "train/optimizers.h"
#include "util/error.h"
#include "util/named_tensors.h"
#include "util/strings.h"
#include "util/tensor_bytes.h"

namespace kiln {
namespace {

using Fields = std::map<std::string, torch::Tensor>;

std::string state_key(const torch::Tensor& flat) { return c10::guts::to_string(flat.unsafeGetTensorImpl()); }

// The state of each optimizer Kiln builds (train/optimizers.cpp), as named flat tensors and a step.
struct Access {
  std::vector<std::string> required, optional;
  std::function<bool(torch::optim::OptimizerParamState&, int64_t&, Fields&)> get;  // false: another type
  std::function<std::unique_ptr<torch::optim::OptimizerParamState>(int64_t, const Fields&)> make;
  std::function<bool(torch::optim::Optimizer&)> is;
};

torch::Tensor field(const Fields& f, const char* name) {
  auto it = f.find(name);
  return it == f.end() ? torch::Tensor() : it->second;
}

void put(Fields& f, const char* name, const torch::Tensor& t) {
  if (t.defined()) f[name] = t;
}

template <class Opt, class State>
Access adam_like() {
  Access a;
  a.required = {"exp_avg", "exp_avg_sq"};
  a.optional = {"max_exp_avg_sq"};
  a.is = [](torch::optim::Optimizer& o) { return dynamic_cast<Opt*>(&o) != nullptr; };
  a.get = [](torch::optim::OptimizerParamState& s, int64_t& step, Fields& f) {
    auto* p = dynamic_cast<State*>(&s);
    if (!p) return false;
    step = p->step();
    put(f, "exp_avg", p->exp_avg());
    put(f, "exp_avg_sq", p->exp_avg_sq());
    put(f, "max_exp_avg_sq", p->max_exp_avg_sq());
    return true;
  };
  a.make = [](int64_t step, const Fields& f) {
    auto p = std::make_unique<State>();
    p->step(step);
    p->exp_avg(field(f, "exp_avg"));
    p->exp_avg_sq(field(f, "exp_avg_sq"));
    p->max_exp_avg_sq(field(f, "max_exp_avg_sq"));
    return std::unique_ptr<torch::optim::OptimizerParamState>(std::move(p));
  };
  return a;
}

const std::vector<Access>& accesses() {
  static const std::vector<Access> all = [] {
    std::vector<Access> v = {adam_like<torch::optim::Adam, torch::optim::AdamParamState>(),
                             adam_like<torch::optim::AdamW, torch::optim::AdamWParamState>()};
    Access sgd;
    sgd.optional = {"momentum_buffer"};
    sgd.is = [](torch::optim::Optimizer& o) { return dynamic_cast<torch::optim::SGD*>(&o) != nullptr; };
    sgd.get = [](torch::optim::OptimizerParamState& s, int64_t& step, Fields& f) {
      auto* p = dynamic_cast<torch::optim::SGDParamState*>(&s);
      if (!p) return false;
      step = 0;
      put(f, "momentum_buffer", p->momentum_buffer());
      return true;
    };
    sgd.make = [](int64_t, const Fields& f) {
      auto p = std::make_unique<torch::optim::SGDParamState>();
      p->momentum_buffer(field(f, "momentum_buffer"));
      return std::unique_ptr<torch::optim::OptimizerParamState>(std::move(p));
    };
    v.push_back(sgd);
    // L-BFGS: its curvature history is not kept; a resumed run rebuilds it from the next step on.
    Access lbfgs;
    lbfgs.is = [](torch::optim::Optimizer& o) { return dynamic_cast<torch::optim::LBFGS*>(&o) != nullptr; };
    lbfgs.get = [](torch::optim::OptimizerParamState& s, int64_t& step, Fields&) {
      step = 0;
      return dynamic_cast<torch::optim::LBFGSParamState*>(&s) != nullptr;
    };
    lbfgs.make = [](int64_t, const Fields&) {
      return std::unique_ptr<torch::optim::OptimizerParamState>(std::make_unique<torch::optim::LBFGSParamState>());
    };
    v.push_back(lbfgs);
    Access rms;
    rms.required = {"square_avg"};
    rms.optional = {"momentum_buffer", "grad_avg"};
    rms.is = [](torch::optim::Optimizer& o) { return dynamic_cast<torch::optim::RMSprop*>(&o) != nullptr; };
    rms.get = [](torch::optim::OptimizerParamState& s, int64_t& step, Fields& f) {
      auto* p = dynamic_cast<torch::optim::RMSpropParamState*>(&s);
      if (!p) return false;
      step = p->step();
      put(f, "square_avg", p->square_avg());
      put(f, "momentum_buffer", p->momentum_buffer());
      put(f, "grad_avg", p->grad_avg());
      return true;
    };
    rms.make = [](int64_t step, const Fields& f) {
      auto p = std::make_unique<torch::optim::RMSpropParamState>();
      p->step(step);
      p->square_avg(field(f, "square_avg"));
      p->momentum_buffer(field(f, "momentum_buffer"));
      p->grad_avg(field(f, "grad_avg"));
      return std::unique_ptr<torch::optim::OptimizerParamState>(std::move(p));
    };
    v.push_back(rms);
    Access adagrad;
    adagrad.required = {"sum"};
    adagrad.is = [](torch::optim::Optimizer& o) { return dynamic_cast<torch::optim::Adagrad*>(&o) != nullptr; };
    adagrad.get = [](torch::optim::OptimizerParamState& s, int64_t& step, Fields& f) {
      auto* p = dynamic_cast<torch::optim::AdagradParamState*>(&s);
      if (!p) return false;
      step = p->step();
      put(f, "sum", p->sum());
      return true;
    };
    adagrad.make = [](int64_t step, const Fields& f) {
      auto p = std::make_unique<torch::optim::AdagradParamState>();
      p->step(step);
      p->sum(field(f, "sum"));
      return std::unique_ptr<torch::optim::OptimizerParamState>(std::move(p));
    };
    v.push_back(adagrad);
    return v;
  }();
  return all;
}

// Kiln's own optimizers (train/optimizers.h): the fields each one declares.
Access rule_access(const RuleOptimizer& r) {
  Access a;
  a.required = r.fields();
  a.get = [](torch::optim::OptimizerParamState& s, int64_t& step, Fields& f) {
    auto* p = dynamic_cast<RuleState*>(&s);
    if (!p) return false;
    step = p->step;
    for (const auto& [k, v] : p->fields) put(f, k.c_str(), v);
    return true;
  };
  a.make = [](int64_t step, const Fields& f) {
    auto p = std::make_unique<RuleState>();
    p->step = step;
    p->fields = f;
    return std::unique_ptr<torch::optim::OptimizerParamState>(std::move(p));
  };
  return a;
}

Access access_for(torch::optim::Optimizer& opt) {
  if (auto* r = dynamic_cast<RuleOptimizer*>(&opt)) return rule_access(*r);
  for (const auto& a : accesses())
    if (a.is(opt)) return a;
  throw std::logic_error("optimizer_state: an optimizer without a state codec (train/optimizer_state.cpp)");
}

// Each parameter's slice of a flat tensor, named "<field>/<parameter>".
NamedTensors slices_of(const std::string& name, const torch::Tensor& flat, const std::vector<ParameterSlice>& slices) {
  NamedTensors out;
  for (const auto& s : slices) {
    int64_t n = 1;
    for (int64_t d : s.shape) n *= d;
    out.emplace_back(name + "/" + s.name, flat.slice(0, s.offset, s.offset + n).view(s.shape));
  }
  return out;
}

}  // namespace

void write_optimizer_state(torch::optim::Optimizer& opt, const torch::Tensor& flat,
                           const std::vector<ParameterSlice>& slices, torch::serialize::OutputArchive& ar) {
  const Access a = access_for(opt);
  int64_t step = 0;
  Fields fields;
  auto it = opt.state().find(state_key(flat));
  if (it != opt.state().end() && !a.get(*it->second, step, fields))
    throw std::logic_error("optimizer_state: the optimizer's state is of another type");
  NamedTensors named;
  std::vector<std::string> names;
  for (const auto& [name, t] : fields) {
    names.push_back(name);
    for (auto& s : slices_of(name, t, slices)) named.push_back(std::move(s));
  }
  ar.write("fields", bytes_tensor(join(names, " ")));
  ar.write("step", torch::tensor(step));
  write_named_tensors(ar, named);
}

void read_optimizer_state(torch::optim::Optimizer& opt, const torch::Tensor& flat,
                          const std::vector<ParameterSlice>& slices, torch::serialize::InputArchive& ar,
                          const std::string& file) {
  const Access a = access_for(opt);
  torch::Tensor names_t, step_t;
  ar.read("fields", names_t);
  ar.read("step", step_t);
  std::vector<std::string> names;
  {
    std::istringstream in(tensor_bytes(names_t));
    for (std::string n; in >> n;) names.push_back(n);
  }
  if (names.empty()) {  // saved before the first step: nothing to restore
    opt.state().erase(state_key(flat));
    return;
  }
  auto known = [&](const std::string& n) {
    return std::find(a.required.begin(), a.required.end(), n) != a.required.end() ||
           std::find(a.optional.begin(), a.optional.end(), n) != a.optional.end();
  };
  for (const auto& n : names)
    if (!known(n))
      throw ModelError(file + ": the optimizer state holds '" + n +
                       "', which this config's optimizer does not have (the checkpoint was written for another "
                       "optimizer; --overwrite starts over)");
  for (const auto& r : a.required)
    if (std::find(names.begin(), names.end(), r) == names.end())
      throw ModelError(file + ": the optimizer state lacks '" + r + "' (the checkpoint was written for another "
                       "optimizer; --overwrite starts over)");
  Fields fields;
  NamedTensors targets;
  for (const auto& n : names) {
    fields[n] = torch::zeros_like(flat);
    for (auto& s : slices_of(n, fields[n], slices)) targets.push_back(std::move(s));
  }
  read_named_tensors(ar, targets, file, "another config");
  opt.state()[state_key(flat)] = a.make(step_t.item<int64_t>(), fields);
}

}  // namespace kiln
