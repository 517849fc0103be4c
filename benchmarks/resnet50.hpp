#pragma once
// ResNet-50 (He et al. 2016, the torchvision layout: bottleneck blocks 3-4-6-3, stride on the
// 3x3 convolution) written with LibTorch modules: the model step the GPU figures feed.
#include <torch/torch.h>

namespace bench {

class BottleneckImpl : public torch::nn::Module {
 public:
  BottleneckImpl(std::int64_t in, std::int64_t width, std::int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr};
  torch::nn::Sequential down_{nullptr};  // projection shortcut where the shape changes
};
TORCH_MODULE(Bottleneck);

class ResNet50Impl : public torch::nn::Module {
 public:
  explicit ResNet50Impl(std::int64_t classes);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Sequential stem_{nullptr}, blocks_{nullptr};
  torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(ResNet50);

}  // namespace bench
