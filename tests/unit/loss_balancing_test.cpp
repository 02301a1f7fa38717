// Multi-task loss balancing (train/loss_balancing.h): each strategy's combined loss and its
// after-step rule on fixed losses, worked by hand; a balancer's state survives a checkpoint; the
// config's choices each have a strategy, and a wrong preference vector is refused at its key.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <cmath>
#include <sstream>

#include "config/config.h"
#include "config_error.h"
#include "train/loss_balancing.h"

using namespace kiln;

namespace {

// Two tasks: losses 2.0 and 0.5, loss weights 1 and 2.
std::vector<torch::Tensor> losses(double a = 2.0, double b = 0.5) {
  return {torch::tensor(a, torch::kFloat32).requires_grad_(), torch::tensor(b, torch::kFloat32).requires_grad_()};
}

std::unique_ptr<LossBalancer> balancer(const std::string& name, const std::string& extra = "") {
  const Config c = parse_config(
      "input_features: [{name: x, type: number}]\n"
      "output_features: [{name: y, type: binary}, {name: z, type: number}]\n"
      "trainer: {loss_balancing: " + name + extra + "}\n",
      "m.yaml");
  return make_loss_balancer(c.trainer, {1.0, 2.0});
}

double combined(LossBalancer& b, double l0 = 2.0, double l1 = 0.5) {
  return b.combine(losses(l0, l1)).item<double>();
}

}  // namespace

TEST_CASE("each loss balancing strategy combines the losses as documented") {
  CHECK(balancer("none") == nullptr);  // the trainer's plain weighted sum
  CHECK(combined(*balancer("log_transform")) == doctest::Approx(std::log1p(2.0) + 2 * std::log1p(0.5)));
  // uncertainty starts at log-variance 0: the weighted sum.
  CHECK(combined(*balancer("uncertainty")) == doctest::Approx(1 * 2.0 + 2 * 0.5));
  // famo starts with equal softmax weights; nash_mtl with 1 / number of tasks; gradnorm with 1.
  CHECK(combined(*balancer("famo")) == doctest::Approx(0.5 * 2.0 + 0.5 * 2 * 0.5));
  CHECK(combined(*balancer("nash_mtl")) == doctest::Approx(0.5 * 2.0 + 0.5 * 2 * 0.5));
  CHECK(combined(*balancer("gradnorm")) == doctest::Approx(2.0 + 2 * 0.5));
  // pareto_mtl: terms p_i * w_i * L_i = [1.0, 0.5]; 0.5 * sum + 0.5 * max.
  CHECK(combined(*balancer("pareto_mtl")) == doctest::Approx(0.5 * 1.5 + 0.5 * 1.0));
  // preference [3, 1] -> [0.75, 0.25]: terms [1.5, 0.25]; tchebycheff weight 1: the max alone.
  CHECK(combined(*balancer("pareto_mtl", ", loss_balancing_preference_vector: [3, 1]")) ==
        doctest::Approx(0.5 * 1.75 + 0.5 * 1.5));
  CHECK(combined(*balancer("pareto_mtl", ", loss_balancing_preference_vector: [3, 1], "
                                         "loss_balancing_tchebycheff_weight: 1")) == doctest::Approx(1.5));
}

TEST_CASE("the adaptive strategies move their task factors by their rules") {
  auto famo = balancer("famo", ", loss_balancing_lr: 0.1");
  famo->after_step({2.0, 0.5});  // remembered
  famo->after_step({4.0, 0.5});  // task 0 doubled: logit 0 += 0.1 * (2 - 1)
  const double e = std::exp(0.1);
  CHECK(famo->factors()[0] == doctest::Approx(e / (e + 1)));
  CHECK(famo->factors()[1] == doctest::Approx(1 / (e + 1)));

  auto nash = balancer("nash_mtl");
  nash->after_step({2.0, 0.5});  // inverse losses [0.5, 2] -> target [0.2, 0.8]; 10 % of the way
  CHECK(nash->factors()[0] == doctest::Approx(0.9 * 0.5 + 0.1 * 0.2));
  CHECK(nash->factors()[1] == doctest::Approx(0.9 * 0.5 + 0.1 * 0.8));

  auto gn = balancer("gradnorm");  // alpha 1.5
  gn->after_step({2.0, 0.5});      // the first losses, remembered
  gn->after_step({1.0, 0.5});      // ratios [0.5, 1], relative [2/3, 4/3]
  const double w0 = 0.9 + 0.1 * std::pow(2.0 / 3, 1.5), w1 = 0.9 + 0.1 * std::pow(4.0 / 3, 1.5);
  CHECK(gn->factors()[0] == doctest::Approx(2 * w0 / (w0 + w1)));
  CHECK(gn->factors()[1] == doctest::Approx(2 * w1 / (w0 + w1)));

  // uncertainty: d/ds_i = w_i (0.5 - exp(-s_i) L_i): -1.5 for task 0, 0 for task 1. Adam's first
  // step moves s_0 by the learning rate, s_1 not at all.
  auto u = balancer("uncertainty", ", learning_rate: 0.01");
  u->combine(losses()).backward();
  u->after_step({2.0, 0.5});
  CHECK(u->factors()[0] == doctest::Approx(std::exp(-0.01)));
  CHECK(u->factors()[1] == doctest::Approx(1.0));
}

TEST_CASE("a balancer's state is restored from a checkpoint exactly") {
  for (const char* name : {"famo", "gradnorm", "nash_mtl", "uncertainty"}) {
    CAPTURE(name);
    auto a = balancer(name);
    for (double l : {2.0, 1.5, 1.0}) {
      a->combine(losses(l, 0.5)).backward();
      a->after_step({l, 0.5});
    }
    torch::serialize::OutputArchive out;
    a->save(out);
    std::stringstream bytes;
    out.save_to(bytes);
    auto b = balancer(name);
    torch::serialize::InputArchive in;
    in.load_from(bytes);
    b->load(in);
    CHECK(b->factors() == a->factors());
    for (auto* x : {a.get(), b.get()}) {
      x->combine(losses(0.8, 0.6)).backward();
      x->after_step({0.8, 0.6});
    }
    CHECK(b->factors() == a->factors());
  }
}

TEST_CASE("every loss_balancing choice has a strategy; a wrong preference vector is refused") {
  for (const auto& name : loss_balancing_strategies()) {
    CAPTURE(name);
    if (name != "none") CHECK(balancer(name) != nullptr);
  }
  const std::string base =
      "input_features: [{name: x, type: number}]\n"
      "output_features: [{name: y, type: binary}, {name: z, type: number}]\n";
  CHECK(config_error_of(base + "trainer: {loss_balancing: pareto_mtl, loss_balancing_preference_vector: [1]}\n") ==
        "m.yaml:3:73: trainer.loss_balancing_preference_vector: expected one non-negative preference per "
        "output feature (2), not all zero; got 1");
  CHECK(config_error_of(base + "trainer: {loss_balancing: pareto_mtl, loss_balancing_preference_vector: [1, -1]}\n") ==
        "m.yaml:3:77: trainer.loss_balancing_preference_vector[1]: expected at least 0, got -1");
  CHECK(config_error_of(base + "trainer: {loss_balancing: magic}\n").find("unknown loss balancing 'magic'") !=
        std::string::npos);
}
