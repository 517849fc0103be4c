#pragma once
// Options as structs with defaults and chainable setters, in LibTorch's TORCH_ARG style:
//   SampleSlideOptions().width(20000).seed(3)    and    opts.width()  to read.
// (TORCH_ARG itself lives in LibTorch headers, which the torch-free layers must not include.)
#include <utility>

#define PYDMED_ARG(T, name)                                       \
 public:                                                          \
  inline auto name(const T& new_##name)->decltype(*this) {        \
    this->name##_ = new_##name;                                   \
    return *this;                                                 \
  }                                                               \
  inline auto name(T&& new_##name)->decltype(*this) {             \
    this->name##_ = std::move(new_##name);                        \
    return *this;                                                 \
  }                                                               \
  inline const T& name() const noexcept { return this->name##_; } \
  inline T& name() noexcept { return this->name##_; }             \
                                                                  \
 private:                                                         \
  T name##_ /* NOLINT */
