// comparator (Ludwig's): two entities, each the concatenation of some input features' encodings,
// go through their own fully connected stacks; the output joins both with their element-wise
// product, absolute difference, dot product and a learned bilinear product, for models that
// compare two things (e.g. two products, a query and a document).
#include <torch/torch.h>

#include <algorithm>
#include <set>

#include "combiners/combiners.h"
#include "config/schema.h"
#include "model/components.h"
#include "util/error.h"
#include "util/strings.h"

namespace kiln {
namespace {

struct ComparatorOptions : Options<ComparatorOptions> {
  std::vector<std::string> entity_1, entity_2;
  FcStackOptions fc;
  ComparatorOptions() { fc.num_fc_layers = 1; }
  template <class V>
  void visit(V& v) {
    v("entity_1", entity_1, "input feature names of the first entity");
    v("entity_2", entity_2, "input feature names of the second entity");
    fc.visit_fc_stack(v, "fully connected layers of each entity");
  }
};

struct ComparatorCombiner : CombinerBase {
  ComparatorCombiner(const ComparatorOptions& o, const std::vector<int64_t>& sizes,
                     const std::vector<std::string>& names) {
    auto indices = [&](const std::vector<std::string>& entity, const char* key) {
      if (entity.empty()) throw ConfigError(std::string("combiner.") + key + ": expected a list of input feature names");
      std::vector<size_t> out;
      for (const auto& n : entity) {
        auto it = std::find(names.begin(), names.end(), n);
        if (it == names.end())
          throw ConfigError(std::string("combiner.") + key + ": '" + n + "' is not an input feature" + suggest(n, names));
        out.push_back(static_cast<size_t>(it - names.begin()));
      }
      return out;
    };
    e1_ = indices(o.entity_1, "entity_1");
    e2_ = indices(o.entity_2, "entity_2");
    std::set<size_t> used(e1_.begin(), e1_.end());
    for (size_t i : e2_)
      if (!used.insert(i).second)
        throw ConfigError("combiner: input feature '" + names[i] + "' is in both entity_1 and entity_2");
    std::vector<std::string> left_out;
    for (size_t i = 0; i < names.size(); ++i)
      if (!used.count(i)) left_out.push_back(names[i]);
    if (!left_out.empty())
      throw ConfigError("combiner: input features " + join(left_out, ", ") +
                        " are in neither entity_1 nor entity_2 (the comparator would ignore them)");
    int64_t in1 = 0, in2 = 0;
    for (size_t i : e1_) in1 += sizes[i];
    for (size_t i : e2_) in2 += sizes[i];
    fc1 = register_module("entity_1", FcStack(in1, o.fc));
    fc2 = register_module("entity_2", FcStack(in2, o.fc));
    const int64_t w1 = fc1->output_size(), w2 = fc2->output_size();
    if (w1 != w2)
      throw ConfigError("combiner: the two entities' encodings have different widths (" + std::to_string(w1) +
                        " and " + std::to_string(w2) + "); add fully connected layers (num_fc_layers >= 1)");
    width_ = w1;
    bilinear = register_parameter("bilinear", torch::randn({width_, width_}) / std::sqrt(double(width_)));
  }
  torch::Tensor forward(const std::vector<torch::Tensor>& encoded) override {
    auto gather = [&](const std::vector<size_t>& idx) {
      std::vector<torch::Tensor> parts;
      for (size_t i : idx) parts.push_back(encoded[i].dim() > 2 ? encoded[i].flatten(1) : encoded[i]);
      return torch::cat(parts, 1);
    };
    auto a = fc1->forward(gather(e1_)), b = fc2->forward(gather(e2_));
    auto product = a * b;
    auto dot = product.sum(1, true);
    auto bilinear_product = (torch::mm(a, bilinear) * b).sum(1, true);
    return torch::cat({a, b, product, (a - b).abs(), dot, bilinear_product}, 1);
  }
  int64_t output_size() const override { return 4 * width_ + 2; }
  std::vector<size_t> e1_, e2_;
  int64_t width_ = 0;
  FcStack fc1{nullptr}, fc2{nullptr};
  torch::Tensor bilinear;
};

}  // namespace

void register_comparator_combiner() {
  register_combiner("comparator",
                    {"compare two entities (groups of inputs): both encodings, their product, "
                     "difference, dot and bilinear products",
                     {},
                     [] { return std::make_shared<ComparatorOptions>(); }},
                    [](const OptionsBase& o, const CombinerInputs& in) {
                      return std::make_shared<ComparatorCombiner>(
                          dynamic_cast<const ComparatorOptions&>(o), in.sizes, in.names);
                    });
}

}  // namespace kiln
