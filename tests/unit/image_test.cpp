// image features: size and channels inferred from training images, conversion when
// num_channels is set, crop_or_pad, augmentation config and behaviour.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include "config/config.h"
#include "features/feature.h"
#include "train/batcher.h"
#include "util/error.h"

using namespace kiln;

static Table images_table(const std::string& csv_name) {
  ReadOptions o;
  o.columns = {"image", "y"};
  return read_table(std::string(KILN_SOURCE_DIR) + "/tests/data/" + csv_name, o);
}

static Config image_config(const std::string& extra) {
  return parse_config("input_features: [{name: image, type: image" + extra + "}]\n"
                      "output_features: [{name: y, type: category}]\n", "m.yaml");
}

TEST_CASE("image: size and channels from the training images; pixels kept as CHW bytes") {
  Table t = images_table("images_ok.csv");
  Config c = image_config("");
  const auto& kind = feature_kind("image");
  auto m = kind.fit(c.input_features[0], t, t.get("image"), {0, 1, 2, 3});
  CHECK(m.height == 8);
  CHECK(m.width == 8);
  CHECK(m.channels == 1);
  auto e = kind.encode(c.input_features[0], m, t, t.get("image"));
  CHECK(e.sizes() == torch::IntArrayRef({6, 1, 8, 8}));
  CHECK(e.dtype() == torch::kUInt8);
}

TEST_CASE("image: num_channels converts; crop_or_pad and interpolate resize") {
  Table t = images_table("images_rgb.csv");
  Config c = image_config(", preprocessing: {num_channels: 3, height: 4, width: 12, resize_method: crop_or_pad}");
  const auto& kind = feature_kind("image");
  auto m = kind.fit(c.input_features[0], t, t.get("image"), {0, 1, 2});
  auto e = kind.encode(c.input_features[0], m, t, t.get("image"));
  CHECK(e.sizes() == torch::IntArrayRef({7, 3, 4, 12}));
  // The 8x8 red image is centred: columns 0-1 and 10-11 are padding, the rest red.
  CHECK(e[6][0][1][5].item<int>() == 200);
  CHECK(e[6][1][1][5].item<int>() == 10);
  CHECK(e[6][0][1][0].item<int>() == 0);
  // Grayscale images become three equal channels.
  CHECK(e[0][0].equal(e[0][1]));
}

TEST_CASE("augmentation: parsed, validated, and applied by the feature's augmenter") {
  Config c = image_config(", augmentation: [{type: random_horizontal_flip, probability: 1}]");
  REQUIRE(c.input_features[0].augmentation.size() == 1);
  auto aug = feature_kind("image").augmenter(c.input_features[0]);
  REQUIRE(aug);
  auto x = torch::randint(0, 256, {3, 1, 5, 7}).to(torch::kUInt8);
  CHECK(aug(x).equal(x.flip({3}).to(torch::kFloat32)));
  Config d = image_config(", augmentation: true");
  CHECK(d.input_features[0].augmentation.size() == 4);
  auto a2 = feature_kind("image").augmenter(d.input_features[0]);
  auto y = a2(x);
  CHECK(y.sizes() == x.sizes());
  CHECK(y.min().item<float>() >= 0);
  CHECK(y.max().item<float>() <= 255);
  Config none = image_config("");
  CHECK_FALSE(feature_kind("image").augmenter(none.input_features[0]));
  CHECK_THROWS_WITH_AS(image_config(", augmentation: [{type: random_flip}]"),
                       doctest::Contains("augmentation[0].type: unknown value 'random_flip'"),
                       ConfigError);
  CHECK_THROWS_WITH_AS(image_config(", augmentation: [{type: random_crop, min_scale: 1.5}]"),
                       doctest::Contains("min_scale: expected a value in (0, 1]"), ConfigError);
}

TEST_CASE("image in_memory: false: each batch decoded when asked for, the same pixels; errors name the row") {
  const auto& kind = feature_kind("image");
  Config eager = image_config(", preprocessing: {num_channels: 3, height: 4, width: 12, resize_method: crop_or_pad}");
  Config lazy = image_config(", preprocessing: {num_channels: 3, height: 4, width: 12, resize_method: crop_or_pad, "
                             "in_memory: false}");
  CHECK_FALSE(kind.lazy_rows(eager.input_features[0]));
  REQUIRE(kind.lazy_rows(lazy.input_features[0]));
  auto t = std::make_shared<const Table>(images_table("images_rgb.csv"));
  auto m = kind.fit(lazy.input_features[0], *t, t->get("image"), {0, 1, 2});
  auto all = kind.encode(eager.input_features[0], m, *t, t->get("image"));
  auto column = kind.lazy(lazy.input_features[0], m, t, t->get("image"));
  auto rows = torch::tensor({6, 0, 3}, torch::kLong);
  auto batch = column->load(rows, nullptr);
  CHECK(column->load(rows, column->fetch(rows)).equal(batch));  // bytes read ahead decode alike
  CHECK(batch.sizes() == torch::IntArrayRef({3, 3, 4, 12}));
  CHECK(batch.equal(all.index_select(0, rows)));

  // The batcher loads lazy columns with the others; a stream loads the next batch ahead.
  Batcher batcher({{"y", torch::arange(7)}}, {{"image", column}});
  BatchStream stream(batcher, [](int64_t k) { return torch::arange(k * 3, std::min<int64_t>(7, k * 3 + 3)); }, 3);
  for (int k = 0; k < 3; ++k) {
    Batch b = stream.next();
    auto expect = torch::arange(k * 3, std::min<int64_t>(7, k * 3 + 3));
    CHECK(b.at("y").equal(expect));
    CHECK(b.at("image").equal(all.index_select(0, expect)));
  }

  // A file that is not there fails at preprocessing; one that does not decode, with its batch.
  Config lazy_gray = image_config(", preprocessing: {in_memory: false}");
  auto missing = std::make_shared<const Table>(images_table("images_missing.csv"));
  auto mg = kind.fit(lazy_gray.input_features[0], *missing, missing->get("image"), {0, 1, 2});
  CHECK_THROWS_WITH_AS(kind.lazy(lazy_gray.input_features[0], mg, missing, missing->get("image")),
                       doctest::Contains("images_missing.csv:8: input feature 'image' (column 'image'): image file "
                                         "not found: "),
                       DataError);
  auto broken = std::make_shared<const Table>(images_table("images_broken.csv"));
  auto lb = kind.lazy(lazy_gray.input_features[0], mg, broken, broken->get("image"));
  CHECK(lb->load(torch::tensor({0, 1}, torch::kLong), nullptr).sizes() == torch::IntArrayRef({2, 1, 8, 8}));
  Batcher bad({}, {{"image", lb}});
  BatchStream failing(bad, [](int64_t k) { return torch::tensor({k == 0 ? 0 : 6}, torch::kLong); }, 2);
  failing.next();  // reads batch 1's file (the broken image) in the background
  CHECK_THROWS_WITH_AS(failing.next(), doctest::Contains("images_broken.csv:8: input feature 'image' (column 'image'): "
                                                         "cannot decode image "),
                       DataError);
}
