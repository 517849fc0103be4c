#pragma once
// Keyword arguments into settings, each by its name (the command line's flag with underscores).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <type_traits>
#include <vector>

#include "pydmed/error.hpp"
#include "pydmed/slide/annotations.hpp"

namespace pydmed::python {

// Keyword arguments into settings, each by its name; an unknown name or a wrong type is an
// OptionsError naming it.
class Kwargs {
 public:
  Kwargs(const char* what, pybind11::kwargs kw) : what_(what), kw_(std::move(kw)) {}
  template <class T>
  void take(const char* name, T* field) {
    if (!kw_.contains(name)) return;
    const pybind11::object v = kw_[name];
    kw_.attr("pop")(name);
    if (v.is_none()) return;  // the default
    try {
      if constexpr (std::is_same_v<T, std::vector<std::string>>) {
        if (pybind11::isinstance<pybind11::str>(v)) throw pybind11::cast_error();  // a string is no list of classes
      } else if constexpr (std::is_same_v<T, bool>) {
        if (!pybind11::isinstance<pybind11::bool_>(v)) throw pybind11::cast_error();
      } else if constexpr (std::is_integral_v<T>) {
        if (!pybind11::isinstance<pybind11::int_>(v) || pybind11::isinstance<pybind11::bool_>(v)) throw pybind11::cast_error();
        if constexpr (std::is_unsigned_v<T>)
          if (v.cast<long long>() < 0) throw OptionsError(name, "must not be negative");
      }
      *field = v.cast<T>();
    } catch (const pybind11::cast_error&) {
      throw OptionsError(name, std::string("must be ") + type_name<T>() + ", not " +
                                   std::string(pybind11::str(v.get_type().attr("__name__"))));
    }
  }
  pybind11::object pop(const char* name) {  // None when absent
    return kw_.attr("pop")(name, pybind11::none());
  }
  void roi(RoiMode* mode) {
    std::string s;
    take("roi", &s);
    if (!s.empty()) *mode = parse_roi_mode(s);
  }
  void done() const {  // anything left is not an option
    for (const auto& [k, v] : kw_)
      throw OptionsError(std::string(pybind11::str(k)), std::string("is not an option of ") + what_);
  }

 private:
  template <class T>
  static const char* type_name() {
    if constexpr (std::is_same_v<T, std::vector<std::string>>) return "a list of strings";
    else if constexpr (std::is_same_v<T, bool>) return "True or False";
    else if constexpr (std::is_integral_v<T>) return "an integer";
    else if constexpr (std::is_floating_point_v<T>) return "a number";
    else return "a string";
  }
  const char* what_;
  pybind11::kwargs kw_;
};

}  // namespace pydmed::python
