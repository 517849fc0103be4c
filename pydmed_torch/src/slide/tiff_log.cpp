#include "slide/tiff_log.hpp"

#include <cstdarg>
#include <cstdio>
#include <mutex>

#include "pydmed/error.hpp"

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

// libtiff's client I/O over a ByteSource: a position per handle, reads by range.
struct SourceCursor {
  std::shared_ptr<const ByteSource> source;
  std::uint64_t pos = 0;
  TiffErrors* errors = nullptr;
};
tmsize_t source_read(thandle_t h, void* buf, tmsize_t n) {
  auto* c = static_cast<SourceCursor*>(h);
  try {
    const std::size_t got = c->source->read_at(buf, std::size_t(n), c->pos);
    c->pos += got;
    return tmsize_t(got);
  } catch (const RemoteError& e) {
    c->errors->remote = e.reason();  // not the file's fault: said by the caller as it is
    return -1;
  } catch (const std::exception&) {
    return -1;
  }
}
tmsize_t source_write(thandle_t, void*, tmsize_t) { return -1; }
toff_t source_seek(thandle_t h, toff_t off, int whence) {
  auto* c = static_cast<SourceCursor*>(h);
  const std::uint64_t base = whence == SEEK_CUR ? c->pos : whence == SEEK_END ? c->source->size() : 0;
  c->pos = base + off;
  return c->pos;
}
int source_close(thandle_t h) {
  delete static_cast<SourceCursor*>(h);
  return 0;
}
toff_t source_size(thandle_t h) { return static_cast<SourceCursor*>(h)->source->size(); }
int no_map(thandle_t, void**, toff_t*) { return 0; }
void no_unmap(thandle_t, void*, toff_t) {}

TIFFOpenOptions* handle_options(TiffErrors* errors) {
  TIFFOpenOptions* opts = TIFFOpenOptionsAlloc();
  TIFFOpenOptionsSetErrorHandlerExtR(opts, record_error, errors);
  TIFFOpenOptionsSetWarningHandlerExtR(opts, drop_warning, nullptr);
  TIFFOpenOptionsSetMaxSingleMemAlloc(opts, kMaxLibtiffAlloc);
  return opts;
}

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
  TIFFOpenOptions* opts = handle_options(errors);
  TiffPtr tif(TIFFOpenExt(path.c_str(), mode, opts));
  TIFFOpenOptionsFree(opts);
  return tif;
}

TiffPtr open_tiff(std::shared_ptr<const ByteSource> source, TiffErrors* errors) {
  silence_libtiff();
  TIFFOpenOptions* opts = handle_options(errors);
  auto* cursor = new SourceCursor{source, 0, errors};  // TIFFClose frees it (source_close); a failed open does not
  TiffPtr tif(TIFFClientOpenExt(source->name().c_str(), "rm", cursor, source_read, source_write, source_seek,
                                source_close, source_size, no_map, no_unmap, opts));
  TIFFOpenOptionsFree(opts);
  if (!tif) delete cursor;
  if (!tif && !errors->remote.empty()) throw RemoteError(source->name(), errors->remote);
  return tif;
}

}  // namespace pydmed
