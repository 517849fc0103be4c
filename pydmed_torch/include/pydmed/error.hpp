#pragma once
// Errors thrown by pydmed_torch. Every message names the file (or option) and the reason,
// so that a user staring at a log line knows what to fix without a debugger.
#include <stdexcept>
#include <string>

namespace pydmed {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A slide or image that cannot be opened or read, or a request outside what it holds.
class SlideError : public Error {
 public:
  SlideError(const std::string& path, const std::string& reason);
  const std::string& path() const { return path_; }
  const std::string& reason() const { return reason_; }

 private:
  std::string path_, reason_;
};

// A remote slide's bytes that could not be had (the server refused, vanished, answered short)
// after the request's tries: not damage in the slide, so a salvaging read does not draw around
// it; the loader's retries of the patient apply.
class RemoteError : public SlideError {
 public:
  using SlideError::SlideError;
};

// Mixed into errors that retrying cannot fix (malformed or empty annotations, a slide without
// the mpp a target needs, a target finer than the slide): a loader that meets one sets the
// patient aside at once, in one line, instead of trying again max_failures times.
struct Deterministic {
  virtual ~Deterministic() = default;
};
class InputError : public Error, public Deterministic {
 public:
  using Error::Error;
};
class SlideInputError : public SlideError, public Deterministic {
 public:
  using SlideError::SlideError;
};
inline bool is_deterministic(const std::exception& e) { return dynamic_cast<const Deterministic*>(&e) != nullptr; }

// A manifest, split or dataset request that is malformed; `line` is 0 when not about a line.
class DatasetError : public Error {
 public:
  DatasetError(const std::string& file, int line, const std::string& reason);
  explicit DatasetError(const std::string& reason) : DatasetError("", 0, reason) {}
  const std::string& file() const { return file_; }
  int line() const { return line_; }

 private:
  std::string file_;
  int line_;
};

}  // namespace pydmed

namespace pydmed {

// Options that cannot work; the message names the option.
class OptionsError : public Error {
 public:
  OptionsError(const std::string& option, const std::string& reason)
      : Error("option " + option + ": " + reason), option_(option), reason_(reason) {}
  const std::string& option() const { return option_; }
  const std::string& reason() const { return reason_; }  // the message without the option

 private:
  std::string option_, reason_;
};

// OptionsError naming `option` unless 0 <= value <= 1 (a fraction: of tissue, of an annotation).
void check_fraction(const std::string& option, double value);

}  // namespace pydmed
