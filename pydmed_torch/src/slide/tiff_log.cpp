#include "slide/tiff_log.hpp"

#include <cstdarg>
#include <cstdio>
#include <mutex>

namespace pydmed {
namespace {

// Far above any strip or tile Slide accepts, so only an absurd header hits it.
constexpr tmsize_t kMaxLibtiffAlloc = tmsize_t{1} << 30;

int record_error(TIFF* tif, void* user_data, const char* module, const char* fmt, va_list ap) {
  char text[512];
  std::vsnprintf(text, sizeof text, fmt, ap);
  std::string& last = static_cast<TiffErrors*>(user_data)->last;
  // Some modules are the file's name, which the slide's message gives already.
  const bool named = module && *module && !(tif && std::string(module) == TIFFFileName(tif));
  last = named ? std::string(module) + ": " + text : std::string(text);
  for (char& c : last) {
    if (c == '\n' || c == '\r') c = ' ';  // messages stay one line
  }
  return 1;  // handled: the global handler is not called
}

// Warnings ("unknown field with tag ...") say nothing a user of a readable slide needs.
int drop_warning(TIFF*, void*, const char*, const char*, va_list) { return 1; }
void drop_global(const char*, const char*, va_list) {}

}  // namespace

void silence_libtiff() {
  static std::once_flag once;
  std::call_once(once, [] {
    TIFFSetErrorHandler(drop_global);
    TIFFSetWarningHandler(drop_global);
  });
}

TiffPtr open_tiff(const std::string& path, const char* mode, TiffErrors* errors) {
  silence_libtiff();
  TIFFOpenOptions* opts = TIFFOpenOptionsAlloc();
  TIFFOpenOptionsSetErrorHandlerExtR(opts, record_error, errors);
  TIFFOpenOptionsSetWarningHandlerExtR(opts, drop_warning, nullptr);
  TIFFOpenOptionsSetMaxSingleMemAlloc(opts, kMaxLibtiffAlloc);
  TiffPtr tif(TIFFOpenExt(path.c_str(), mode, opts));
  TIFFOpenOptionsFree(opts);
  return tif;
}

}  // namespace pydmed
