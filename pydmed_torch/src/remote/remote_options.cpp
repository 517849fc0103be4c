// The process's RemoteOptions: an immutable snapshot behind an atomic pointer, read by every
// request from any thread; set_remote_options publishes a new one (the old is left, a few bytes,
// since a reader may hold it). No lock, so a child forked while a fetch thread reads them is safe.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "pydmed/error.hpp"
#include "pydmed/slide/remote.hpp"

namespace pydmed {
namespace {

std::atomic<const RemoteOptions*> g_options{nullptr};

// Defaults, then PYDMED_CACHE, PYDMED_CACHE_SIZE, PYDMED_REMOTE_TRIES, PYDMED_REMOTE_STALL_SECONDS,
// PYDMED_REMOTE_MEMORY.
const RemoteOptions* from_env() {
  auto* o = new RemoteOptions();
  if (const char* v = std::getenv("PYDMED_CACHE")) o->cache_dir(v);
  if (const char* v = std::getenv("PYDMED_CACHE_SIZE")) o->cache_bytes(parse_byte_size("PYDMED_CACHE_SIZE", v));
  if (const char* v = std::getenv("PYDMED_REMOTE_TRIES")) o->tries(std::max(1, std::atoi(v)));
  if (const char* v = std::getenv("PYDMED_REMOTE_STALL_SECONDS")) o->stall_seconds(std::max(1.0, std::atof(v)));
  if (const char* v = std::getenv("PYDMED_REMOTE_MEMORY")) o->memory_bytes(parse_byte_size("PYDMED_REMOTE_MEMORY", v));
  return o;
}

}  // namespace

std::uint64_t parse_byte_size(const std::string& flag, const std::string& text) {
  std::size_t used = 0;
  unsigned long long v = 0;
  try {
    if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) throw std::invalid_argument(text);
    v = std::stoull(text, &used);
  } catch (const std::exception&) {
    throw OptionsError(flag, "must be a number of bytes with an optional K, M or G (got '" + text + "')");
  }
  std::string unit = text.substr(used);
  if (unit.size() == 2 && (unit[1] == 'B' || unit[1] == 'b')) unit.pop_back();
  int shift = 0;
  if (unit == "K" || unit == "k") shift = 10;
  else if (unit == "M" || unit == "m") shift = 20;
  else if (unit == "G" || unit == "g") shift = 30;
  else if (unit == "T" || unit == "t") shift = 40;
  else if (!unit.empty())
    throw OptionsError(flag, "must be a number of bytes with an optional K, M or G (got '" + text + "')");
  if (v > (~0ull >> shift)) throw OptionsError(flag, "is too large (got '" + text + "')");
  return std::uint64_t(v) << shift;
}

RemoteOptions remote_options() {
  const RemoteOptions* o = g_options.load(std::memory_order_acquire);
  if (!o) {
    const RemoteOptions* made = from_env();
    if (g_options.compare_exchange_strong(o, made, std::memory_order_acq_rel)) return *made;
    delete made;
  }
  return *o;
}

void set_remote_options(const RemoteOptions& options) {
  if (options.tries() < 1) throw OptionsError("tries", "must be at least 1");
  if (!options.cache_dir().empty()) {
    std::error_code ec;
    const bool made = std::filesystem::create_directories(options.cache_dir(), ec);
    if (ec) throw OptionsError("cache", options.cache_dir() + ": " + ec.message());
    if (made) ::chmod(options.cache_dir().c_str(), 0700);  // patient data: the user's alone (files are 0600 anyway)
    if (::access(options.cache_dir().c_str(), R_OK | W_OK | X_OK) != 0)
      throw OptionsError("cache", options.cache_dir() + ": " + std::strerror(errno));
  }
  g_options.store(new RemoteOptions(options), std::memory_order_release);
}

}  // namespace pydmed
