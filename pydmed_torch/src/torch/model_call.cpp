#include "torch/model_call.hpp"

#include <sstream>

#include "pydmed/error.hpp"

namespace pydmed::detail {

namespace {
// The reason in an exception from a model, on one line: c10::Error's without its backtrace, and
// of a TorchScript interpreter's report its last "...Error: reason" line, not its preamble.
std::string reason(const std::exception& e) {
  const auto* c10 = dynamic_cast<const c10::Error*>(&e);
  const std::string what = c10 ? c10->what_without_backtrace() : e.what();
  std::string last, line;
  std::istringstream in(what);
  while (std::getline(in, line))
    if (line.find("Error: ") != std::string::npos) last = line.substr(line.find("Error: ") + 7);
  return last.empty() ? what.substr(0, what.find('\n')) : last;
}

std::string shape_of(const torch::Tensor& t) {
  std::string s = "[";
  for (std::int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}
}  // namespace

torch::Tensor call_model(const FeatureExtractor::Model& model, const torch::Tensor& x, const std::string& name,
                         std::int64_t dim) {
  torch::Tensor y;
  try {
    y = model(x);
    if (y.defined()) y = y.to(torch::kCPU, torch::kFloat).contiguous();
  } catch (const std::exception& e) {
    throw Error(name + ": fails on a float " + shape_of(x) + " batch (expected input [B, 3, K, K]): " + reason(e));
  }
  if (!y.defined() || y.dim() != 2 || y.size(0) != x.size(0) || (dim > 0 && y.size(1) != dim)) {
    throw Error(name + ": returned " + (y.defined() ? shape_of(y) : std::string("nothing")) + " for a batch of " +
                std::to_string(x.size(0)) + " windows; expected [" + std::to_string(x.size(0)) + ", " +
                (dim > 0 ? std::to_string(dim) : std::string("D")) + "]");
  }
  return y;
}

std::int64_t probe_model(const FeatureExtractor::Model& model, int kernel, const torch::Device& device,
                         const std::string& name, std::int64_t max_dim) {
  const torch::Tensor zeros = torch::zeros({1, 3, kernel, kernel}, torch::TensorOptions().device(device));
  const std::int64_t dim = call_model(model, zeros, name, 0).size(1);
  if (dim == 0) throw Error(name + ": returns 0 features a window");
  if (dim > max_dim) {
    throw Error(name + ": returns " + std::to_string(dim) + " features a window, more than the " +
                std::to_string(max_dim) + " taken (raise max_dim, --max-dim, if that is meant)");
  }
  return dim;
}

}  // namespace pydmed::detail
