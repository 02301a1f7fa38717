// Image encoders (input: uint8 [batch, channels, height, width]): stacked_cnn, resnet (18/34,
// trained from scratch) and mlp_mixer, with Ludwig's parameters and defaults. Each first scales
// pixels to [0, 1] and applies the feature's standardization.
#include <torch/torch.h>

#include "config/schema.h"
#include "encoders/encoders.h"
#include "model/components.h"
#include "util/error.h"

namespace kiln {
namespace {

// uint8 pixels → float in [0, 1], standardized per channel when the metadata says so.
class PixelsImpl : public torch::nn::Module {
 public:
  explicit PixelsImpl(const FeatureMetadata& m) {
    if (!m.channel_mean.empty()) {
      mean_ = register_buffer("mean", torch::tensor(m.channel_mean, torch::kFloat32).view({1, -1, 1, 1}));
      std_ = register_buffer("std", torch::tensor(m.channel_std, torch::kFloat32).view({1, -1, 1, 1}));
    }
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = x.to(torch::kFloat32).div_(255.0);
    if (mean_.defined()) h = (h - mean_) / std_;
    return h;
  }

 private:
  torch::Tensor mean_, std_;
};
TORCH_MODULE(Pixels);

// Max pooling whose window equals its stride (Ludwig's default: 2 and 2), without padding, on
// contiguous float32 [B, C, H, W]: each output keeps the offset of its maximum in the window
// (one byte), and the gradient goes back to that pixel, as max_pool2d's does (the first maximum
// wins, a NaN wins). libtorch 1.13's channels-first max_pool2d spends a quarter of a
// stacked_cnn training step finding the maxima; this does it in one pass over the input.
struct WindowMaxPool : torch::autograd::Function<WindowMaxPool> {
  static bool applies(const torch::Tensor& x, int64_t k, int64_t stride) {
    return k == stride && k > 1 && k * k <= 255 && x.scalar_type() == torch::kFloat32 &&
           x.dim() == 4 && x.is_contiguous() && x.size(2) >= k && x.size(3) >= k;
  }
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, int64_t k) {
    const int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3), ho = h / k, wo = w / k;
    auto out = torch::empty({x.size(0), x.size(1), ho, wo}, x.options());
    auto arg = torch::empty({x.size(0), x.size(1), ho, wo}, x.options().dtype(torch::kUInt8));
    const float* in = x.data_ptr<float>();
    float* o = out.data_ptr<float>();
    uint8_t* a = arg.data_ptr<uint8_t>();
    at::parallel_for(0, planes, 1, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const float* plane = in + p * h * w;
        if (k == 2) {  // the common case, branch-free so the compiler vectorizes it
          for (int64_t i = 0; i < ho; ++i) {
            const float* r0 = plane + 2 * i * w;
            const float* r1 = r0 + w;
            float* orow = o + (p * ho + i) * wo;
            uint8_t* arow = a + (p * ho + i) * wo;
            for (int64_t j = 0; j < wo; ++j) {
              const float v0 = r0[2 * j], v1 = r0[2 * j + 1], v2 = r1[2 * j], v3 = r1[2 * j + 1];
              float best = v0;
              uint8_t at = 0;
              const bool t1 = v1 > best || v1 != v1;
              best = t1 ? v1 : best, at = t1 ? 1 : at;
              const bool t2 = v2 > best || v2 != v2;
              best = t2 ? v2 : best, at = t2 ? 2 : at;
              const bool t3 = v3 > best || v3 != v3;
              best = t3 ? v3 : best, at = t3 ? 3 : at;
              orow[j] = best, arow[j] = at;
            }
          }
          continue;
        }
        for (int64_t i = 0; i < ho; ++i)
          for (int64_t j = 0; j < wo; ++j) {
            const float* win = plane + i * k * w + j * k;
            float best = win[0];
            int64_t at = 0;
            for (int64_t di = 0; di < k; ++di)
              for (int64_t dj = 0; dj < k; ++dj) {
                const float v = win[di * w + dj];
                if (v > best || std::isnan(v)) best = v, at = di * k + dj;
              }
            o[(p * ho + i) * wo + j] = best;
            a[(p * ho + i) * wo + j] = static_cast<uint8_t>(at);
          }
      }
    });
    ctx->save_for_backward({arg});
    ctx->saved_data["h"] = h, ctx->saved_data["w"] = w, ctx->saved_data["k"] = k;
    return out;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto arg = ctx->get_saved_variables()[0];
    const int64_t h = ctx->saved_data["h"].toInt(), w = ctx->saved_data["w"].toInt(),
                  k = ctx->saved_data["k"].toInt();
    const int64_t planes = arg.size(0) * arg.size(1), ho = arg.size(2), wo = arg.size(3);
    auto g = grads[0].contiguous();
    auto gin = torch::zeros({arg.size(0), arg.size(1), h, w}, g.options());
    const float* gp = g.data_ptr<float>();
    const uint8_t* a = arg.data_ptr<uint8_t>();
    float* out = gin.data_ptr<float>();
    at::parallel_for(0, planes, 1, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p)
        for (int64_t i = 0; i < ho; ++i)
          for (int64_t j = 0; j < wo; ++j) {
            const int64_t at = a[(p * ho + i) * wo + j];
            out[p * h * w + (i * k + at / k) * w + j * k + at % k] = gp[(p * ho + i) * wo + j];
          }
    });
    return {gin, torch::Tensor()};
  }
};

torch::Tensor max_pool(const torch::Tensor& x, int64_t k, int64_t stride) {
  if (WindowMaxPool::applies(x, k, stride)) return WindowMaxPool::apply(x, k);
  return torch::max_pool2d(x, k, stride);
}

// A convolution's padding as Ludwig writes it: valid (none), same (kernel / 2 on each side, which
// keeps the size of odd kernels at stride 1) or a number of pixels on each side. -1: neither.
int64_t padding_pixels(const std::string& padding, int64_t kernel) {
  if (padding == "valid") return 0;
  if (padding == "same") return kernel / 2;
  if (padding.empty() || padding.size() > 4 || padding.find_first_not_of("0123456789") != std::string::npos)
    return -1;
  return std::stoll(padding);
}

OneOf padding_choice() {
  OneOf o = one_of({"valid", "same"});
  o.accepts = [](const std::string& padding) { return padding_pixels(padding, 1) >= 0; };
  o.expected = "valid, same or a number of pixels";
  return o;
}

struct Conv2dLayer {
  std::optional<int> out_channels, kernel_size, stride, pool_kernel_size, pool_stride;
  std::optional<std::string> padding;
  std::optional<std::string> activation, norm;  // default: the encoder's conv_activation, conv_norm
  std::optional<double> dropout;                // default: the encoder's conv_dropout
  std::optional<bool> use_bias;
  template <class V>
  void visit(V& v) {
    v("activation", activation, "this layer's activation (default: conv_activation)", one_of_names(activation_names));
    v("norm", norm, "this layer's normalization (default: conv_norm)", one_of({"batch"}));
    v("dropout", dropout, "this layer's dropout (default: conv_dropout)", in_range(0, 1, false, true));
    v("use_bias", use_bias, "this layer's convolution has a bias (default: true)");
    v("out_channels", out_channels, "output channels (default: the encoder's out_channels)", at_least(1));
    v("kernel_size", kernel_size, "kernel width and height", at_least(1));
    v("stride", stride, "convolution stride", at_least(1));
    v("padding", padding, "valid | same | pixels on each side", padding_choice());
    v("pool_kernel_size", pool_kernel_size, "max-pool size after this layer (0: none)", at_least(0));
    v("pool_stride", pool_stride, "pool stride (default: pool_kernel_size)", at_least(1));
  }
};

struct StackedCnn2dOptions : Options<StackedCnn2dOptions> {
  std::vector<Conv2dLayer> conv_layers;
  std::optional<int> num_conv_layers;
  int out_channels = 32;
  std::optional<int> num_filters;
  int kernel_size = 3;
  int stride = 1;
  std::string padding = "valid";
  std::string conv_activation = "relu";
  double conv_dropout = 0.0;
  std::optional<std::string> conv_norm;
  std::string pool_function = "max";
  int pool_kernel_size = 2;
  std::optional<int> pool_stride;
  FcStackOptions fc;
  StackedCnn2dOptions() { fc.num_fc_layers = 1, fc.output_size = 128; }
  template <class V>
  void visit(V& v) {
    v("conv_layers", conv_layers, "convolution layers ([{out_channels, kernel_size, ...}])");
    v("num_conv_layers", num_conv_layers, "number of convolution layers with the defaults below "
                                          "(default: two, of 32 and 64 channels)", at_least(1));
    v("out_channels", out_channels, "default output channels of each layer", at_least(1));
    v("num_filters", num_filters, "alias of out_channels", at_least(1));
    v("kernel_size", kernel_size, "default kernel size", at_least(1));
    v("stride", stride, "default stride", at_least(1));
    v("padding", padding, "pixels added on each side", padding_choice());
    v("conv_activation", conv_activation, "activation after each convolution", one_of_names(activation_names));
    v("conv_dropout", conv_dropout, "dropout after each convolution", in_range(0, 1, false, true));
    v("conv_norm", conv_norm, "normalization after each convolution (null: none)", one_of({"batch"}));
    v("pool_function", pool_function, "pooling after each layer", one_of({"max", "average", "avg", "mean"}));
    v("pool_kernel_size", pool_kernel_size, "pooling size after each layer (0: none)", at_least(0));
    v("pool_stride", pool_stride, "pool stride (default: pool_kernel_size)", at_least(1));
    FcStackKeys k;
    k.activation = "fc_activation", k.dropout = "fc_dropout", k.norm = "fc_norm";
    fc.visit_fc_stack(v, "fully connected layers after flattening", k);
  }
  std::vector<std::string> problems() const override {
    std::vector<std::string> p;
    if (!conv_layers.empty() && num_conv_layers)
      p.push_back("conv_layers: give either conv_layers or num_conv_layers, not both");
    return p;
  }
};

// stacked_cnn: convolution → norm → activation → dropout → pooling, per layer; flatten; fc layers.
struct StackedCnn2dEncoder : EncoderBase {
  StackedCnn2dEncoder(const StackedCnn2dOptions& o, const FeatureMetadata& m) : average_(o.pool_function != "max") {
    pixels = register_module("pixels", Pixels(m));
    std::vector<Conv2dLayer> layers = o.conv_layers;
    const int channels = o.num_filters.value_or(o.out_channels);
    if (layers.empty() && o.num_conv_layers) layers.resize(*o.num_conv_layers);
    if (layers.empty()) {
      layers.resize(2);
      layers[0].out_channels = 32, layers[1].out_channels = 64;
    }
    int64_t in = m.channels, h = m.height, w = m.width;
    for (size_t i = 0; i < layers.size(); ++i) {
      const auto& l = layers[i];
      const int64_t out = l.out_channels.value_or(channels), k = l.kernel_size.value_or(o.kernel_size),
                    s = l.stride.value_or(o.stride);
      const int64_t pad = padding_pixels(l.padding.value_or(o.padding), k);
      convs.push_back(register_module(
          "conv" + std::to_string(i),
          torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).stride(s).padding(pad).bias(l.use_bias.value_or(true)))));
      if (l.norm.value_or(o.conv_norm.value_or("")) == "batch")
        norms.push_back(register_module("norm" + std::to_string(i), torch::nn::BatchNorm2d(out)));
      else
        norms.push_back(nullptr);
      activations_.push_back(l.activation.value_or(o.conv_activation));
      dropouts_.push_back(l.dropout.value_or(o.conv_dropout));
      h = (h + 2 * pad - k) / s + 1;
      w = (w + 2 * pad - k) / s + 1;
      const int64_t pk = l.pool_kernel_size.value_or(o.pool_kernel_size);
      const int64_t ps = l.pool_stride.value_or(o.pool_stride.value_or(static_cast<int>(pk)));
      pools_.push_back({pk, ps});
      if (pk > 1) h = (h - pk) / ps + 1, w = (w - pk) / ps + 1;
      if (h < 1 || w < 1)
        throw ConfigError("stacked_cnn: " + std::to_string(i + 1) + " convolution layer(s) shrink a " +
                          std::to_string(m.height) + "x" + std::to_string(m.width) +
                          " image to nothing; use fewer layers, padding: same or a larger image");
      in = out;
    }
    fc = register_module("fc", FcStack(in * h * w, o.fc));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    auto h = pixels->forward(x);
    for (size_t i = 0; i < convs.size(); ++i) {
      h = convs[i]->forward(h);
      if (norms[i]) h = norms[i]->forward(h);
      h = activate(h, activations_[i]);
      if (dropouts_[i] > 0) h = torch::dropout(h, dropouts_[i], is_training());
      auto [pk, ps] = pools_[i];
      if (pk > 1) h = average_ ? torch::avg_pool2d(h, pk, ps) : max_pool(h, pk, ps);
    }
    return fc->forward(h.flatten(1));
  }
  int64_t output_size() const override { return fc->output_size(); }
  Pixels pixels{nullptr};
  std::vector<torch::nn::Conv2d> convs;
  std::vector<torch::nn::BatchNorm2d> norms;  // null for a layer without one
  FcStack fc{nullptr};
  std::vector<std::pair<int64_t, int64_t>> pools_;
  std::vector<std::string> activations_;
  std::vector<double> dropouts_;
  bool average_;
};

struct ResNetOptions : Options<ResNetOptions> {
  int model_variant = 18;
  bool use_pretrained = false;
  bool trainable = true;
  FcStackOptions fc;
  template <class V>
  void visit(V& v) {
    v("model_variant", model_variant, "residual blocks per stage: 18 (2-2-2-2) or 34 (3-4-6-3)",
      one_of_numbers({18, 34}).saying("18 or 34 (basic-block ResNets, trained from scratch)"));
    v("use_pretrained", use_pretrained, "must be false: no pretrained weights can be downloaded");
    v("trainable", trainable, "train the residual network (false: a fixed random projection)");
    FcStackKeys k;
    k.activation = nullptr, k.norm = nullptr;
    fc.visit_fc_stack(v, "fully connected layers after global pooling", k);
  }
  std::vector<std::string> problems() const override {
    if (use_pretrained) return {"use_pretrained: pretrained weights cannot be downloaded here; set it to false"};
    return {};
  }
};

class BasicBlockImpl : public torch::nn::Module {
 public:
  BasicBlockImpl(int64_t in, int64_t out, int64_t stride) {
    c1 = register_module("c1", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false)));
    b1 = register_module("b1", torch::nn::BatchNorm2d(out));
    c2 = register_module("c2", torch::nn::Conv2d(torch::nn::Conv2dOptions(out, out, 3).padding(1).bias(false)));
    b2 = register_module("b2", torch::nn::BatchNorm2d(out));
    if (stride != 1 || in != out) {
      down = register_module("down", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)));
      bd = register_module("bd", torch::nn::BatchNorm2d(out));
    }
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = torch::relu(b1->forward(c1->forward(x)));
    h = b2->forward(c2->forward(h));
    return torch::relu(h + (down ? bd->forward(down->forward(x)) : x));
  }
  torch::nn::Conv2d c1{nullptr}, c2{nullptr}, down{nullptr};
  torch::nn::BatchNorm2d b1{nullptr}, b2{nullptr}, bd{nullptr};
};
TORCH_MODULE(BasicBlock);

// resnet: the 18/34-layer residual network (7x7 stem, four stages of basic blocks, global average
// pooling: 512 features), trained from scratch.
struct ResNetEncoder : EncoderBase {
  ResNetEncoder(const ResNetOptions& o, const FeatureMetadata& m) {
    pixels = register_module("pixels", Pixels(m));
    stem = register_module("stem", torch::nn::Conv2d(torch::nn::Conv2dOptions(m.channels, 64, 7).stride(2).padding(3).bias(false)));
    stem_bn = register_module("stem_bn", torch::nn::BatchNorm2d(64));
    const std::vector<int> blocks = o.model_variant == 34 ? std::vector<int>{3, 4, 6, 3}
                                                          : std::vector<int>{2, 2, 2, 2};
    int64_t in = 64;
    for (size_t s = 0; s < 4; ++s) {
      const int64_t out = 64 << s;
      for (int b = 0; b < blocks[s]; ++b) {
        layers.push_back(register_module("block" + std::to_string(s) + "_" + std::to_string(b),
                                         BasicBlock(in, out, b == 0 && s > 0 ? 2 : 1)));
        in = out;
      }
    }
    if (!o.trainable)
      for (auto& p : parameters()) p.set_requires_grad(false);
    fc = register_module("fc", FcStack(512, o.fc));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    auto h = torch::relu(stem_bn->forward(stem->forward(pixels->forward(x))));
    h = torch::max_pool2d(h, 3, 2, 1);
    for (auto& b : layers) h = b->forward(h);
    return fc->forward(h.mean({2, 3}));
  }
  int64_t output_size() const override { return fc->output_size(); }
  Pixels pixels{nullptr};
  torch::nn::Conv2d stem{nullptr};
  torch::nn::BatchNorm2d stem_bn{nullptr};
  std::vector<BasicBlock> layers;
  FcStack fc{nullptr};
};

struct MlpMixerOptions : Options<MlpMixerOptions> {
  int patch_size = 16;
  int embed_size = 512;
  int token_size = 2048;
  int channel_dim = 256;
  int num_layers = 8;
  double dropout = 0.0;
  bool avg_pool = true;
  template <class V>
  void visit(V& v) {
    v("patch_size", patch_size, "side of the square patches (must divide height and width)", at_least(1));
    v("embed_size", embed_size, "patch embedding width", at_least(1));
    v("token_size", token_size, "hidden width of the token-mixing MLP", at_least(1));
    v("channel_dim", channel_dim, "hidden width of the channel-mixing MLP", at_least(1));
    v("num_layers", num_layers, "number of mixer layers", at_least(1));
    v("dropout", dropout, "dropout in the MLPs", in_range(0, 1, false, true));
    v("avg_pool", avg_pool, "average the patches (false: flatten them)");
  }
};

class MixerLayerImpl : public torch::nn::Module {
 public:
  MixerLayerImpl(int64_t patches, const MlpMixerOptions& o) : dropout_(o.dropout) {
    n1 = register_module("n1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.embed_size})));
    t1 = register_module("t1", torch::nn::Linear(patches, o.token_size));
    t2 = register_module("t2", torch::nn::Linear(o.token_size, patches));
    n2 = register_module("n2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.embed_size})));
    c1 = register_module("c1", torch::nn::Linear(o.embed_size, o.channel_dim));
    c2 = register_module("c2", torch::nn::Linear(o.channel_dim, o.embed_size));
  }
  torch::Tensor forward(const torch::Tensor& x) {  // [B, patches, embed]
    auto mlp = [&](torch::nn::Linear& a, torch::nn::Linear& b, torch::Tensor h) {
      h = torch::gelu(a->forward(h));
      if (dropout_ > 0) h = torch::dropout(h, dropout_, is_training());
      return b->forward(h);
    };
    auto h = x + mlp(t1, t2, n1->forward(x).transpose(1, 2)).transpose(1, 2);
    return h + mlp(c1, c2, n2->forward(h));
  }
  torch::nn::LayerNorm n1{nullptr}, n2{nullptr};
  torch::nn::Linear t1{nullptr}, t2{nullptr}, c1{nullptr}, c2{nullptr};

 private:
  double dropout_;
};
TORCH_MODULE(MixerLayer);

// mlp_mixer: non-overlapping patches embedded linearly, then layers mixing across patches and
// across channels (MLP-Mixer), layer norm, and the patches averaged.
struct MlpMixerEncoder : EncoderBase {
  MlpMixerEncoder(const MlpMixerOptions& o, const FeatureMetadata& m) : avg_(o.avg_pool) {
    if (m.height % o.patch_size || m.width % o.patch_size)
      throw ConfigError("mlp_mixer: patch_size " + std::to_string(o.patch_size) + " does not divide the " +
                        std::to_string(m.height) + "x" + std::to_string(m.width) +
                        " images; set patch_size or the image height and width");
    pixels = register_module("pixels", Pixels(m));
    const int64_t patches = (m.height / o.patch_size) * (m.width / o.patch_size);
    embed = register_module("embed", torch::nn::Conv2d(torch::nn::Conv2dOptions(m.channels, o.embed_size, o.patch_size)
                                                           .stride(o.patch_size)));
    for (int i = 0; i < o.num_layers; ++i)
      layers.push_back(register_module("mixer" + std::to_string(i), MixerLayer(patches, o)));
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.embed_size})));
    out_ = avg_ ? o.embed_size : o.embed_size * patches;
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    auto h = embed->forward(pixels->forward(x)).flatten(2).transpose(1, 2);  // [B, patches, embed]
    for (auto& l : layers) h = l->forward(h);
    h = norm->forward(h);
    return avg_ ? h.mean(1) : h.flatten(1);
  }
  int64_t output_size() const override { return out_; }
  Pixels pixels{nullptr};
  torch::nn::Conv2d embed{nullptr};
  std::vector<MixerLayer> layers;
  torch::nn::LayerNorm norm{nullptr};
  bool avg_;
  int64_t out_;
};

template <class O, class E>
void add_image_encoder(const std::string& name, const std::string& doc) {
  const std::string key = "image/" + name;
  register_encoder(key, {doc, {"image"}, [] { return std::make_shared<O>(); }},
                   [](const OptionsBase& o, const FeatureMetadata& m) {
                     return std::make_shared<E>(dynamic_cast<const O&>(o), m);
                   });
}

}  // namespace

void register_image_encoders() {
  add_image_encoder<StackedCnn2dOptions, StackedCnn2dEncoder>(
      "stacked_cnn", "convolution and pooling layers, flattened, then fc layers");
  add_image_encoder<ResNetOptions, ResNetEncoder>("resnet", "ResNet-18/34 trained from scratch");
  add_image_encoder<MlpMixerOptions, MlpMixerEncoder>("mlp_mixer", "MLP-Mixer over image patches");
}

}  // namespace kiln
