#include "resnet50.hpp"

namespace bench {

namespace nn = torch::nn;

namespace {
nn::Conv2d conv(std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(k / 2).bias(false));
}
}  // namespace

BottleneckImpl::BottleneckImpl(std::int64_t in, std::int64_t width, std::int64_t stride) {
  const std::int64_t out = width * 4;
  conv1_ = register_module("conv1", conv(in, width, 1, 1));
  bn1_ = register_module("bn1", nn::BatchNorm2d(width));
  conv2_ = register_module("conv2", conv(width, width, 3, stride));
  bn2_ = register_module("bn2", nn::BatchNorm2d(width));
  conv3_ = register_module("conv3", conv(width, out, 1, 1));
  bn3_ = register_module("bn3", nn::BatchNorm2d(out));
  if (stride != 1 || in != out)
    down_ = register_module("down", nn::Sequential(conv(in, out, 1, stride), nn::BatchNorm2d(out)));
}

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  auto y = torch::relu(bn1_(conv1_(x)));
  y = torch::relu(bn2_(conv2_(y)));
  y = bn3_(conv3_(y));
  return torch::relu(y + (down_ ? down_->forward(x) : x));
}

ResNet50Impl::ResNet50Impl(std::int64_t classes) {
  stem_ = register_module("stem", nn::Sequential(conv(3, 64, 7, 2), nn::BatchNorm2d(64), nn::ReLU(),
                                                 nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1))));
  blocks_ = register_module("blocks", nn::Sequential());
  std::int64_t in = 64;
  const std::int64_t widths[] = {64, 128, 256, 512}, depths[] = {3, 4, 6, 3};
  for (int stage = 0; stage < 4; ++stage) {
    for (std::int64_t i = 0; i < depths[stage]; ++i) {
      blocks_->push_back(Bottleneck(in, widths[stage], i == 0 && stage > 0 ? 2 : 1));
      in = widths[stage] * 4;
    }
  }
  fc_ = register_module("fc", nn::Linear(in, classes));
}

torch::Tensor ResNet50Impl::forward(const torch::Tensor& x) {
  auto y = blocks_->forward(stem_->forward(x));
  return fc_(torch::adaptive_avg_pool2d(y, {1, 1}).flatten(1));
}

}  // namespace bench
