// Checkpointed optimizer state by parameter name (train/optimizer_state.h, model format 2): a
// model that lays its parameters out in another order resumes with each moment on its own
// parameter, and a state of another optimizer or parameter set is refused naming what differs.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <sstream>

#include "config/schema.h"
#include "train/flat_parameters.h"
#include "train/optimizer_state.h"
#include "train/optimizers.h"
#include "util/error.h"

using namespace kiln;

namespace {

// Two parameters "a" [3] and "b" [2, 2] packed into one flat buffer in the given order.
struct Packed {
  torch::Tensor a, b;
  std::unique_ptr<FlatParameters> flat;
  std::vector<ParameterSlice> slices;
  Packed(bool a_first, const torch::Tensor& a0, const torch::Tensor& b0) {
    a = a0.clone().requires_grad_();
    b = b0.clone().requires_grad_();
    flat = std::make_unique<FlatParameters>(a_first ? std::vector<torch::Tensor>{a, b} : std::vector<torch::Tensor>{b, a});
    if (a_first) slices = {{"a", 0, {3}}, {"b", 3, {2, 2}}};
    else slices = {{"b", 0, {2, 2}}, {"a", 4, {3}}};
  }
  void step(torch::optim::Optimizer& opt, int seed) {
    flat->zero_grad();
    torch::manual_seed(seed);
    auto ga = torch::randn({3}), gb = torch::randn({2, 2});
    ((a * ga).sum() + (b * gb).sum()).backward();
    opt.step();
  }
};

std::string save(torch::optim::Optimizer& opt, const Packed& p) {
  torch::serialize::OutputArchive ar;
  write_optimizer_state(opt, p.flat->flat(), p.slices, ar);
  std::ostringstream out;
  ar.save_to(out);
  return out.str();
}

void load(torch::optim::Optimizer& opt, const Packed& p, const std::string& bytes) {
  torch::serialize::InputArchive ar;
  std::istringstream in(bytes);
  ar.load_from(in);
  read_optimizer_state(opt, p.flat->flat(), p.slices, ar, "ckpt.pt");
}

// An optimizer, its options (YAML) and learning rate, and the weights six steps end at.
struct RuleCase {
  const char* name;
  const char* options;
  double lr;
  std::vector<double> expected;
};

std::shared_ptr<OptionsBase> read_options(const RuleCase& c) {
  auto opts = optimizer_schemas().find(c.name)->make_options();
  std::vector<std::string> errors;
  YamlReader r("o.yaml", YAML::Load(c.options), "optimizer", &errors);
  opts->read(r);
  r.finish();
  REQUIRE(errors.empty());
  return opts;
}

}  // namespace

TEST_CASE("optimizer state by name: a resume in another parameter order continues exactly") {
  torch::manual_seed(1);
  const auto a0 = torch::randn({3}), b0 = torch::randn({2, 2});
  for (const char* name : {"adam", "adamw", "sgd", "rmsprop", "adagrad", "adamax", "nadam", "radam", "adadelta",
                           "adafactor", "muon", "schedule_free_adamw"}) {
    CAPTURE(name);
    auto opts = optimizer_schemas().find(name)->make_options();
    if (std::string(name) == "sgd" || std::string(name) == "rmsprop") {  // every moment in use
      std::vector<std::string> errors;
      YamlReader r("o.yaml", YAML::Load(std::string(name) == "sgd" ? "{momentum: 0.9}" : "{momentum: 0.9, centered: true}"),
                   "optimizer", &errors);
      opts->read(r);
      REQUIRE(errors.empty());
    }
    const auto& build = *optimizer_builders().find(name);
    Packed ref(true, a0, b0), saved(true, a0, b0);
    auto opt_ref = build(*opts, {ref.flat->flat()}, 0.01, ref.slices);
    auto opt_saved = build(*opts, {saved.flat->flat()}, 0.01, saved.slices);
    for (int i = 0; i < 3; ++i) ref.step(*opt_ref, i), saved.step(*opt_saved, i);
    const std::string bytes = save(*opt_saved, saved);

    // another layout: b first, from the saved values
    Packed resumed(false, saved.a.detach(), saved.b.detach());
    auto opt_resumed = build(*opts, {resumed.flat->flat()}, 0.01, resumed.slices);
    load(*opt_resumed, resumed, bytes);
    for (int i = 3; i < 6; ++i) ref.step(*opt_ref, i), resumed.step(*opt_resumed, i);
    CHECK(torch::equal(ref.a, resumed.a));
    CHECK(torch::equal(ref.b, resumed.b));
  }
}

TEST_CASE("optimizer state by name: other parameters or another optimizer are refused, naming them") {
  auto adam_opts = optimizer_schemas().find("adam")->make_options();
  const auto& adam = *optimizer_builders().find("adam");
  Packed p(true, torch::ones({3}), torch::ones({2, 2}));
  auto opt = adam(*adam_opts, {p.flat->flat()}, 0.01, p.slices);
  p.step(*opt, 0);
  const std::string bytes = save(*opt, p);

  // a parameter renamed: the saved one is missing
  Packed renamed(true, torch::ones({3}), torch::ones({2, 2}));
  renamed.slices[1].name = "c";
  auto opt2 = adam(*adam_opts, {renamed.flat->flat()}, 0.01, renamed.slices);
  CHECK_THROWS_WITH_AS(load(*opt2, renamed, bytes),
                       "ckpt.pt: no tensor 'exp_avg/c' (the model's config has it; the file was written for another config)",
                       ModelError);
  // another optimizer
  auto sgd_opts = optimizer_schemas().find("sgd")->make_options();
  Packed q(true, torch::ones({3}), torch::ones({2, 2}));
  auto sgd = (*optimizer_builders().find("sgd"))(*sgd_opts, {q.flat->flat()}, 0.01, q.slices);
  CHECK_THROWS_WITH_AS(load(*sgd, q, bytes),
                       "ckpt.pt: the optimizer state holds 'exp_avg', which this config's optimizer does not have (the "
                       "checkpoint was written for another optimizer; --overwrite starts over)",
                       ModelError);
  // a state saved before the first step restores nothing
  Packed fresh(true, torch::ones({3}), torch::ones({2, 2}));
  auto opt3 = adam(*adam_opts, {fresh.flat->flat()}, 0.01, fresh.slices);
  const std::string empty = save(*opt3, fresh);
  auto opt4 = adam(*adam_opts, {fresh.flat->flat()}, 0.01, fresh.slices);
  load(*opt4, fresh, empty);
  CHECK(opt4->state().empty());
}

// The optimizers beyond libtorch's follow PyTorch's torch.optim update rules: six steps on a fixed
// problem end where PyTorch 1.13's ended (the weights below were computed with torch.optim,
// float64, from the same start and losses).
TEST_CASE("adagrad, adamax, nadam, radam and adadelta follow PyTorch's update rules") {
  torch::NoGradGuard no_grad_outside;
  const std::vector<RuleCase> cases = {
      {"adagrad", "{lr_decay: 0.01, weight_decay: 0.02, eps: 1.0e-10}", 0.1,
       {0.788261671687, -0.659363254438, 1.65365814759, 0.225297516802}},
      {"adamax", "{betas: [0.9, 0.999], eps: 1.0e-8, weight_decay: 0.02}", 0.1,
       {0.931053903131, -0.450537499541, 1.43360770828, 0.329031938451}},
      // PyTorch 1.13's foreach=True path: its single-tensor path multiplies mu into the next
      // step's product twice (fixed in later releases).
      {"nadam", "{betas: [0.9, 0.999], eps: 1.0e-8, weight_decay: 0.02, momentum_decay: 0.004}", 0.1,
       {0.866407810575, -0.544414168311, 1.53507182654, 0.261980064943}},
      {"radam", "{betas: [0.9, 0.999], eps: 1.0e-8, weight_decay: 0.02}", 0.1,  // rectified at step 6
       {0.873403633524, 1.14951650376, 0.457843842182, 0.312224341753}},
      {"radam", "{betas: [0.5, 0.6], eps: 1.0e-8}", 0.1,  // never rectified
       {0.874029448401, 0.602700114917, 0.374606808903, 0.26662291194}},
      {"adadelta", "{rho: 0.9, eps: 1.0e-6, weight_decay: 0.02}", 1.0,
       {0.519612979279, -0.980220193747, 1.98019983341, 0.0194340879531}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CAPTURE(c.options);
    auto opts = read_options(c);
    torch::Tensor w = torch::tensor({0.5, -1.0, 2.0, 0.0}, torch::kFloat64).requires_grad_();
    const torch::Tensor a = torch::tensor({1.0, 3.0, 0.5, 2.0}, torch::kFloat64);
    const torch::Tensor t = torch::tensor({1.0, 0.5, -1.0, 0.25}, torch::kFloat64);
    auto opt = (*optimizer_builders().find(c.name))(*opts, {w}, c.lr, {});
    for (int i = 0; i < 6; ++i) {
      opt->zero_grad();
      torch::AutoGradMode grad(true);
      ((a * (w - t).pow(2)).sum() + 0.05 * w.pow(3).sum()).backward();
      opt->step();
    }
    for (int i = 0; i < 4; ++i) CHECK(w[i].item<double>() == doctest::Approx(c.expected[static_cast<size_t>(i)]).epsilon(1e-9));
  }
}

// Adafactor, Muon and schedule-free AdamW work per weight matrix (or keep an averaged iterate):
// Kiln runs them on one flat buffer laid out as W [3, 4] then b [4], and six steps end where an
// independent float64 implementation of each update rule ends (tests/unit/optimizer_reference.py,
// written from the papers; schedule-free's weights are its averaged iterate x, as evaluated).
TEST_CASE("adafactor, muon and schedule_free_adamw follow their update rules per weight matrix") {
  torch::NoGradGuard no_grad_outside;
  const std::vector<RuleCase> cases = {
      {"adafactor", "{}", 0.001,  // relative_step: the learning rate is not used
       {-0.469369665119, -0.400761095857, -0.284832059407, -0.17821474847, -0.114452465514, 0.0380265928259,
        0.114589185204, 0.224165027736, 0.311723263277, 0.38766708247, 0.477085975076, 0.584664502607,
        0.566001062663, -0.932677866929, 1.93251662918, 0.0644308884543}},
      {"adafactor", "{relative_step: false, scale_parameter: false}", 0.1,
       {0.127895276903, -0.406187387757, 0.158997703665, 0.0990776460943, -0.641374484547, 0.482489744271,
        0.295954548773, 0.731327121069, 0.539829064944, 0.0283397770643, -0.0953131087701, 0.394951696157,
        0.898348913108, -0.445017219858, 1.42815774231, 0.24772261968}},
      {"adafactor", "{warmup_init: true}", 0.001,
       {-0.499989154556, -0.40000027758, -0.299994679431, -0.199992234105, -0.100005028745, 1.34936408385e-05,
        0.10000522376, 0.200008452216, 0.30000416087, 0.39999568704, 0.49999191285, 0.599994511259,
        0.500024058155, -0.999975941661, 1.99997594164, 2.40579508946e-05}},
      {"muon", "{}", 0.02,
       {-0.269153847258, -0.424004180652, -0.233969584909, -0.112264642456, -0.160662090205, 0.182748528811,
        0.0805418958636, 0.30919685103, 0.396303554511, 0.43742057092, 0.329469704986, 0.611891315908,
        0.865911855629, 1.15872039915, 0.51798944844, 0.306044216546}},
      {"muon", "{momentum: 0.9, nesterov: false}", 0.05,
       {0.064161070274, -0.447003760471, -0.132014335511, 0.00241279309748, -0.262802214431, 0.426162353796,
        0.0642257173809, 0.468170201003, 0.52960226357, 0.486341411578, 0.0825738317219, 0.622479588457,
        1.08329111012, 1.44639605909, -0.512422055948, 0.423626208333}},
      {"schedule_free_adamw", "{betas: [0.9, 0.999], eps: 1.0e-8, weight_decay: 0.01, warmup_steps: 2}", 0.1,
       {-0.195175338044, -0.414693018544, 0.0186509369056, 0.049509784996, -0.412657552461, 0.286157627091,
        0.297711761451, 0.492160217392, 0.541204224784, 0.105490942336, 0.182479454192, 0.395635881887,
        0.778342519776, -0.675684453188, 1.66755756954, 0.228011495183}},
  };
  const torch::Tensor A = torch::tensor({1.0, 2.0, 0.5, 1.5, 0.3, 1.0, 2.5, 0.7, 1.2, 0.4, 1.0, 2.0}, torch::kFloat64).view({3, 4});
  const torch::Tensor T = torch::tensor({0.2, -0.4, 0.9, 0.1, -1.0, 0.5, 0.3, 0.8, 0.6, -0.2, -0.7, 0.4}, torch::kFloat64).view({3, 4});
  const torch::Tensor a = torch::tensor({1.0, 3.0, 0.5, 2.0}, torch::kFloat64);
  const torch::Tensor t = torch::tensor({1.0, 0.5, -1.0, 0.25}, torch::kFloat64);
  const std::vector<ParameterSlice> layout = {{"W", 0, {3, 4}}, {"b", 12, {4}}};
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CAPTURE(c.options);
    auto opts = read_options(c);
    torch::Tensor flat = torch::cat({torch::arange(12, torch::kFloat64) * 0.1 - 0.5,
                                     torch::tensor({0.5, -1.0, 2.0, 0.0}, torch::kFloat64)})
                             .requires_grad_();
    auto opt = (*optimizer_builders().find(c.name))(*opts, {flat}, c.lr, layout);
    for (int i = 0; i < 6; ++i) {
      opt->zero_grad();
      torch::AutoGradMode grad(true);
      auto W = flat.slice(0, 0, 12).view({3, 4}), b = flat.slice(0, 12, 16);
      ((A * (W - T).pow(2)).sum() + 0.05 * W.pow(3).sum() + (a * (b - t).pow(2)).sum() + 0.05 * b.pow(3).sum())
          .backward();
      opt->step();
    }
    if (auto* e = dynamic_cast<EvalWeights*>(opt.get())) e->use_eval_weights();
    for (int i = 0; i < 16; ++i) {
      CAPTURE(i);
      CHECK(flat[i].item<double>() == doctest::Approx(c.expected[static_cast<size_t>(i)]).epsilon(1e-9));
    }
  }
}
