// image: each row names an image file (PNG, JPEG, BMP; relative paths are resolved from the data
// file's folder). Images are decoded with OpenCV on every core, converted to the feature's
// channel count, resized to one size, and kept as uint8 [rows, channels, height, width]; the
// encoders scale them to [0, 1] (and standardize) per batch. Size and channel count come from
// the config, else from a sample of the training images, as in Ludwig.
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <map>
#include <mutex>

#include "config/schema.h"
#include "data/synthesize.h"
#include "features/feature.h"
#include "util/strings.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/parallel.h"

namespace kiln {
namespace {

struct ImagePreprocessing : Options<ImagePreprocessing> {
  std::optional<int> height, width, num_channels;
  std::string resize_method = "interpolate";
  bool infer_image_num_channels = true;
  bool infer_image_dimensions = true;
  int infer_image_max_height = 256;
  int infer_image_max_width = 256;
  int infer_image_sample_size = 100;
  std::optional<std::string> standardize_image;
  std::string missing_value_strategy = "bfill";
  bool in_memory = true;
  template <class V>
  void visit(V& v) {
    v("height", height, "height images are resized to (default: inferred from a sample)", at_least(1));
    v("width", width, "width images are resized to (default: inferred from a sample)", at_least(1));
    v("num_channels", num_channels,
      "1 (grayscale), 3 (RGB) or 4 (RGBA); when set, images are converted to it; when inferred, "
      "an image with another channel count is an error", one_of_numbers({1, 3, 4}));
    v("resize_method", resize_method, "how images get their size", one_of({"interpolate", "crop_or_pad"}));
    v("infer_image_num_channels", infer_image_num_channels, "infer num_channels from a sample");
    v("infer_image_dimensions", infer_image_dimensions, "infer height and width from a sample");
    v("infer_image_max_height", infer_image_max_height, "cap on the inferred height");
    v("infer_image_max_width", infer_image_max_width, "cap on the inferred width");
    v("infer_image_sample_size", infer_image_sample_size, "training images sampled for inference", at_least(1));
    v("standardize_image", standardize_image,
      "null (scale to [0, 1]) | imagenet1k (ImageNet channel means and deviations)", one_of({"imagenet1k"}));
    v("missing_value_strategy", missing_value_strategy, "how missing images are filled",
      one_of({"bfill", "ffill", "drop_row"}));
    v("in_memory", in_memory,
      "true: decode every image at preprocessing; false: decode each batch's images when it is needed, on "
      "a background thread that runs one batch ahead (for data larger than memory)");
  }
};

std::string where(const FeatureConfig& f, const Table& t, size_t row) {
  return t.where(row) + ": input feature '" + f.name + "' (column '" + f.column + "')";
}

std::string resolve(const Table& t, std::string_view value) {
  std::string p(trim(value));
  if (!p.empty() && p[0] == '/') return p;
  std::string dir = parent_dir(t.source);
  return dir.empty() ? p : path_join(dir, p);
}

// Decodes one image as 8-bit with its own channel count (1, 3 or 4; OpenCV's BGR order is turned
// into RGB), from the file the cell names, from its bytes when they were read ahead, or from the
// cell itself when the column holds uploaded files. Throws DataError naming row and column.
cv::Mat decode(const FeatureConfig& f, const Table& t, const Column& c, size_t row,
               const std::string* bytes = nullptr) {
  const std::string_view value = t.cell(c, row);
  const std::string path = c.holds_bytes ? std::string() : resolve(t, value);
  const std::string what = c.holds_bytes ? "the uploaded file" : path;  // named in messages
  if (!c.holds_bytes && !bytes && !file_exists(path))
    throw DataError(where(f, t, row) + ": image file not found: " + path);
  const std::string_view data = bytes ? std::string_view(*bytes) : value;
  cv::Mat m = c.holds_bytes || bytes
                  ? cv::imdecode(cv::Mat(1, static_cast<int>(data.size()), CV_8U, const_cast<char*>(data.data())),
                                 cv::IMREAD_UNCHANGED)
                  : cv::imread(path, cv::IMREAD_UNCHANGED);
  if (m.empty())
    throw DataError(where(f, t, row) + ": cannot decode " + (c.holds_bytes ? what : "image " + what) +
                    " (expected a PNG, JPEG or BMP file)");
  if (m.depth() == CV_16U) m.convertTo(m, CV_8U, 1.0 / 257);
  if (m.depth() != CV_8U)
    throw DataError(where(f, t, row) + ": unsupported pixel type in " + what + " (expected 8 or 16 bits)");
  if (m.channels() == 3) cv::cvtColor(m, m, cv::COLOR_BGR2RGB);
  if (m.channels() == 4) cv::cvtColor(m, m, cv::COLOR_BGRA2RGBA);
  if (m.channels() == 2) {  // gray + alpha: keep the gray
    std::vector<cv::Mat> planes;
    cv::split(m, planes);
    m = planes[0];
  }
  return m;
}

cv::Mat to_channels(cv::Mat m, int channels) {
  if (m.channels() == channels) return m;
  cv::Mat out;
  if (channels == 1) cv::cvtColor(m, out, m.channels() == 3 ? cv::COLOR_RGB2GRAY : cv::COLOR_RGBA2GRAY);
  else if (channels == 3) cv::cvtColor(m, out, m.channels() == 1 ? cv::COLOR_GRAY2RGB : cv::COLOR_RGBA2RGB);
  else cv::cvtColor(m, out, m.channels() == 1 ? cv::COLOR_GRAY2RGBA : cv::COLOR_RGB2RGBA);
  return out;
}

cv::Mat resize_to(const cv::Mat& m, int h, int w, const std::string& method) {
  if (m.rows == h && m.cols == w) return m;
  cv::Mat out;
  if (method == "interpolate") {
    const bool shrink = m.rows > h || m.cols > w;
    cv::resize(m, out, cv::Size(w, h), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
    return out;
  }
  // crop_or_pad: centred crop where larger, zero padding where smaller.
  out = cv::Mat::zeros(h, w, m.type());
  const int ch = std::min(h, m.rows), cw = std::min(w, m.cols);
  m(cv::Rect((m.cols - cw) / 2, (m.rows - ch) / 2, cw, ch))
      .copyTo(out(cv::Rect((w - cw) / 2, (h - ch) / 2, cw, ch)));
  return out;
}

// The augmentation steps on a batch [B, C, H, W] of 0-255 pixels; each image draws its own
// parameters. Returns floats in 0-255 (the encoders scale them like the stored bytes).
torch::Tensor augment(const std::vector<AugmentationOp>& ops, const torch::Tensor& batch) {
  namespace F = torch::nn::functional;
  auto x = batch.to(torch::kFloat32);
  const int64_t B = x.size(0);
  auto uniform = [&](double lo, double hi) { return torch::empty({B}).uniform_(lo, hi); };
  for (const auto& op : ops) {
    if (op.type == "random_horizontal_flip" || op.type == "random_vertical_flip") {
      auto flip = (torch::rand({B}) < op.probability).view({B, 1, 1, 1});
      x = torch::where(flip, x.flip({op.type == "random_horizontal_flip" ? 3 : 2}), x);
    } else if (op.type == "random_brightness") {
      x = (x * uniform(op.min, op.max).view({B, 1, 1, 1})).clamp(0, 255);
    } else if (op.type == "random_contrast") {
      auto mean = x.mean({1, 2, 3}, true);
      x = ((x - mean) * uniform(op.min, op.max).view({B, 1, 1, 1}) + mean).clamp(0, 255);
    } else {  // random_rotate, random_crop: an affine resampling
      auto theta = torch::zeros({B, 2, 3});
      if (op.type == "random_rotate") {
        auto a = uniform(-op.degree, op.degree) * (M_PI / 180.0);
        theta.select(2, 0).select(1, 0).copy_(a.cos());
        theta.select(2, 1).select(1, 0).copy_(-a.sin());
        theta.select(2, 0).select(1, 1).copy_(a.sin());
        theta.select(2, 1).select(1, 1).copy_(a.cos());
      } else {
        auto scale = uniform(op.min_scale, 1.0);
        auto room = 1 - scale;
        theta.select(2, 0).select(1, 0).copy_(scale);
        theta.select(2, 1).select(1, 1).copy_(scale);
        theta.select(2, 2).select(1, 0).copy_((torch::rand({B}) * 2 - 1) * room);
        theta.select(2, 2).select(1, 1).copy_((torch::rand({B}) * 2 - 1) * room);
      }
      auto grid = F::affine_grid(theta, x.sizes(), false);
      x = F::grid_sample(x, grid, F::GridSampleFuncOptions().mode(torch::kBilinear)
                                      .padding_mode(torch::kZeros).align_corners(false));
    }
  }
  return x;
}

// Decodes row `r`'s image (or the neighbour missing_value_strategy names) into dst, as
// C x H x W bytes; a row with nothing to copy (src < 0) stays black. Throws DataError naming the row.
void decode_row(const FeatureConfig& f, const FeatureMetadata& m, const Table& t, const Column& c,
                int64_t src, uint8_t* dst, const std::string* bytes = nullptr) {
  const auto& p = f.prep<ImagePreprocessing>();
  const int H = static_cast<int>(m.height), W = static_cast<int>(m.width), C = static_cast<int>(m.channels);
  if (src < 0) {
    std::fill(dst, dst + static_cast<int64_t>(C) * H * W, 0);
    return;
  }
  cv::Mat img = decode(f, t, c, static_cast<size_t>(src), bytes);
  if (img.channels() != C) {
    if (!p.num_channels)
      throw DataError(where(f, t, static_cast<size_t>(src)) + ": image has " + std::to_string(img.channels()) +
                      " channel(s), expected " + std::to_string(C) + " (inferred from the training images); set "
                      "preprocessing.num_channels to convert every image");
    img = to_channels(img, C);
  }
  img = resize_to(img, H, W, p.resize_method);
  if (!img.isContinuous()) img = img.clone();
  // HWC (OpenCV) → CHW.
  const uint8_t* px = img.ptr<uint8_t>();
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      for (int ch = 0; ch < C; ++ch) dst[(ch * H + y) * W + x] = px[(y * W + x) * C + ch];
}

// in_memory: false. The table (paths) is kept; a batch's files can be read ahead (fetch, I/O only)
// and its images are decoded when the batch is asked for, on every core.
class LazyImages : public LazyColumn {
 public:
  LazyImages(const FeatureConfig& f, const FeatureMetadata& m, std::shared_ptr<const Table> t, const Column& c)
      : f_(f), m_(m), t_(std::move(t)), c_(c),
        src_(missing_sources(*t_, c_, f.prep<ImagePreprocessing>().missing_value_strategy)) {
    // A missing file fails now, naming its row, rather than in the middle of training.
    for (size_t r = 0; r < src_.size() && !c_.holds_bytes; ++r)
      if (src_[r] >= 0 && static_cast<size_t>(src_[r]) == r) {
        const std::string path = resolve(*t_, t_->cell(c_, r));
        if (!file_exists(path)) throw DataError(where(f_, *t_, r) + ": image file not found: " + path);
      }
  }
  // Each row's file bytes (empty where there is no file to read: decoding then reports it).
  std::shared_ptr<const void> fetch(const torch::Tensor& rows) const override {
    auto idx = rows.to(torch::kLong).contiguous();
    auto bytes = std::make_shared<std::vector<std::string>>(static_cast<size_t>(idx.numel()));
    const int64_t* r = idx.data_ptr<int64_t>();
    for (size_t i = 0; i < bytes->size(); ++i) {
      const int64_t src = src_[static_cast<size_t>(r[i])];
      if (src < 0 || c_.holds_bytes) continue;  // uploaded bytes are decoded from the cell
      try {
        (*bytes)[i] = read_file(resolve(*t_, t_->cell(c_, src)));
      } catch (const DataError&) {
        // left empty: load() reads the file itself and names the row
      }
    }
    return bytes;
  }
  torch::Tensor load(const torch::Tensor& rows, const std::shared_ptr<const void>& fetched) const override {
    auto idx = rows.to(torch::kLong).contiguous();
    const int64_t n = idx.numel(), size = m_.channels * m_.height * m_.width;
    auto out = torch::empty({n, m_.channels, m_.height, m_.width}, torch::kUInt8);
    const int64_t* r = idx.data_ptr<int64_t>();
    uint8_t* o = out.data_ptr<uint8_t>();
    const auto* bytes = static_cast<const std::vector<std::string>*>(fetched.get());
    parallel_for(static_cast<size_t>(n), ThreadScope::current(), [&](size_t i) {
      const std::string* b = bytes && !(*bytes)[i].empty() ? &(*bytes)[i] : nullptr;
      decode_row(f_, m_, *t_, c_, src_[static_cast<size_t>(r[i])], o + static_cast<int64_t>(i) * size, b);
    });
    return out;
  }

 private:
  FeatureConfig f_;
  FeatureMetadata m_;
  std::shared_ptr<const Table> t_;
  const Column& c_;
  std::vector<int64_t> src_;
};

class ImageKind : public FeatureKind {
 public:
  std::string synthesize(const FeatureConfig& f, Synthesis& s, int64_t row) const override {
    const auto& p = f.prep<ImagePreprocessing>();
    return s.image(f.name, row, p.height.value_or(28), p.width.value_or(28), p.num_channels.value_or(1));
  }
  unsigned metadata_fields() const override { return metadata_fields::image; }
  bool lazy_rows(const FeatureConfig& f) const override { return !f.prep<ImagePreprocessing>().in_memory; }
  std::shared_ptr<const LazyColumn> lazy(const FeatureConfig& f, const FeatureMetadata& m,
                                         std::shared_ptr<const Table> t, const Column& c) const override {
    return std::make_shared<LazyImages>(f, m, std::move(t), c);
  }

  std::function<torch::Tensor(const torch::Tensor&)> augmenter(const FeatureConfig& f) const override {
    if (f.augmentation.empty()) return {};
    auto ops = f.augmentation;
    return [ops](const torch::Tensor& batch) { return augment(ops, batch); };
  }

  FeatureMetadata fit(const FeatureConfig& f, const Table& t, const Column& c,
                      const std::vector<int64_t>& rows) const override {
    const auto& p = f.prep<ImagePreprocessing>();
    FeatureMetadata m;
    m.name = f.name, m.type = "image";
    m.training_rows = static_cast<int64_t>(rows.size());
    std::vector<int> heights, widths;
    std::map<int, int> channel_counts;
    for (int64_t r : rows) {
      if (Table::missing(c, r)) {
        ++m.training_missing;
        continue;
      }
      if (static_cast<int>(heights.size()) >= p.infer_image_sample_size) continue;
      cv::Mat img = decode(f, t, c, static_cast<size_t>(r));
      heights.push_back(img.rows), widths.push_back(img.cols);
      channel_counts[img.channels()]++;
    }
    if (heights.empty())
      throw DataError(t.source + ": input feature '" + f.name + "' (column '" + f.column +
                      "'): no image in the training split");
    auto median = [](std::vector<int> v) {
      std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
      return v[v.size() / 2];
    };
    m.height = p.height ? *p.height : std::min(median(heights), p.infer_image_max_height);
    m.width = p.width ? *p.width : std::min(median(widths), p.infer_image_max_width);
    if (p.num_channels) {
      m.channels = *p.num_channels;
    } else {
      m.channels = 0;
      int best = 0;
      for (auto [ch, n] : channel_counts)
        if (n > best) best = n, m.channels = ch;
    }
    if (p.standardize_image && *p.standardize_image == "imagenet1k") {
      const std::vector<double> mean = {0.485, 0.456, 0.406}, sd = {0.229, 0.224, 0.225};
      for (int64_t ch = 0; ch < m.channels; ++ch) {
        // Grayscale uses the mean of the RGB statistics; an alpha channel is left as is.
        m.channel_mean.push_back(ch >= 3 ? 0.0 : m.channels == 1 ? 0.449 : mean[ch]);
        m.channel_std.push_back(ch >= 3 ? 1.0 : m.channels == 1 ? 0.226 : sd[ch]);
      }
    }
    return m;
  }

  torch::Tensor encode(const FeatureConfig& f, const FeatureMetadata& m, const Table& t,
                       const Column& c) const override {
    const auto& p = f.prep<ImagePreprocessing>();
    const int64_t n = static_cast<int64_t>(t.num_rows()), size = m.channels * m.height * m.width;
    auto out = torch::empty({n, m.channels, m.height, m.width}, torch::kUInt8);
    uint8_t* o = out.data_ptr<uint8_t>();
    // A missing value with no neighbour to copy stays black; bfill/ffill copy the neighbour's
    // pixels (decoded again: rows are independent, so the decoding runs in parallel).
    auto src = missing_sources(t, c, p.missing_value_strategy);
    parallel_for(static_cast<size_t>(n), ThreadScope::current(), [&](size_t r) {
      decode_row(f, m, t, c, src[r], o + static_cast<int64_t>(r) * size);
    });
    return out;
  }

  void mark_dropped(const FeatureConfig& f, const Table& t, const Column& c,
                    std::vector<uint8_t>& keep) const override {
    if (f.prep<ImagePreprocessing>().missing_value_strategy == "drop_row")
      FeatureKind::mark_dropped(f, t, c, keep);
  }

  // No output side (segmentation decoders are not built): output() is null, as the schema
  // says (can_output = false).
};

}  // namespace

void register_image_feature() {
  FeatureSchema s;
  s.doc = "an image file path (PNG, JPEG, BMP), decoded, converted and resized to one size";
  s.can_output = false;
  s.make_preprocessing = [](bool) { return std::make_shared<ImagePreprocessing>(); };
  s.default_encoder = "stacked_cnn";
  s.input_augmentation = true;
  s.automl_space = "image";
  register_feature_type("image", std::move(s), std::make_shared<ImageKind>());
}

}  // namespace kiln
