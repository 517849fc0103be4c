#include "remote/http.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <random>
#include <thread>

#include "pydmed/error.hpp"
#include "pydmed/slide/remote.hpp"
#include "remote/per_process.hpp"
#include "remote/sigv4.hpp"
#include "remote/xml.hpp"

namespace pydmed::remote {
namespace {

// This process's byte counts (a forked child counts from 0).
struct Counts {
  std::atomic<std::uint64_t> received{0};  // body bytes
  std::atomic<std::uint64_t> tiles{0};     // compressed tile bytes read (note_tiles_read)
  void before_fork() {}
  void after_fork(bool child) {
    if (child) received = 0, tiles = 0;
  }
};

// This thread's handle. One made by the parent before fork is abandoned, not cleaned up, in the
// child: its connection's socket is the parent's too, and a close or a TLS close_notify from the
// child would break the parent's transfer.
CURL* thread_handle() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  thread_local pid_t pid = 0;
  thread_local CURL* curl = nullptr;
  if (pid != ::getpid() || !curl) curl = curl_easy_init(), pid = ::getpid();
  if (!curl) throw Error("libcurl cannot make a handle");
  curl_easy_reset(curl);  // keeps the connection and its caches
  return curl;
}

struct Exchange {
  long status = 0;
  std::string reason;  // the status line's phrase
  std::string content_range, content_length, etag, last_modified;
  std::string error_body;  // the start of a non-2xx body, for S3's <Code> and <Message>
  const std::function<bool(const char*, std::size_t)>* sink = nullptr;
  bool stopped = false;  // the sink had enough
  std::uint64_t received = 0;
};

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == '\n' || s.back() == ' ')) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}

std::size_t on_header(char* p, std::size_t size, std::size_t n, void* user) {
  auto* x = static_cast<Exchange*>(user);
  const std::string line(p, size * n);
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a redirect or a 100): start over
    const auto* sink = x->sink;
    *x = Exchange{};
    x->sink = sink;
    const auto sp = line.find(' ');
    if (sp != std::string::npos) {
      x->status = std::strtol(line.c_str() + sp + 1, nullptr, 10);
      const auto sp2 = line.find(' ', sp + 1);
      if (sp2 != std::string::npos) x->reason = trim(line.substr(sp2 + 1));
    }
    return size * n;
  }
  const auto colon = line.find(':');
  if (colon == std::string::npos) return size * n;
  std::string name = line.substr(0, colon);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  const std::string value = trim(line.substr(colon + 1));
  if (name == "content-range") x->content_range = value;
  if (name == "content-length") x->content_length = value;
  if (name == "etag") x->etag = value;
  if (name == "last-modified") x->last_modified = value;
  return size * n;
}

std::size_t on_body(char* p, std::size_t size, std::size_t n, void* user) {
  auto* x = static_cast<Exchange*>(user);
  const std::size_t len = size * n;
  if (x->status < 200 || x->status >= 300) {
    if (x->error_body.size() < 4096) x->error_body.append(p, std::min<std::size_t>(len, 4096));
    return len;
  }
  fork_aware<Counts>().received.fetch_add(len, std::memory_order_relaxed);
  x->received += len;
  if (!(*x->sink)(p, len)) {
    x->stopped = true;
    return 0;  // CURLE_WRITE_ERROR: the transfer ends here
  }
  return len;
}

// What the server said, one line: "HTTP 403 Forbidden (SignatureDoesNotMatch: The request ...)".
std::string server_said(const Exchange& x) {
  std::string s = "HTTP " + std::to_string(x.status) + (x.reason.empty() ? "" : " " + x.reason);
  const std::string code = xml_text(x.error_body, "Code"), message = xml_text(x.error_body, "Message");
  if (!code.empty()) s += " (" + code + (message.empty() ? "" : ": " + message) + ")";
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

bool retryable(CURLcode rc) {
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: case CURLE_PARTIAL_FILE: case CURLE_COULDNT_CONNECT: case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR: case CURLE_GOT_NOTHING: case CURLE_COULDNT_RESOLVE_HOST: case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2: case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

struct Attempt {
  bool ok = false, retry = false;
  std::string why;
};

Attempt attempt(const Target& t, const std::string& range, const std::string& if_match, Exchange& x) {
  CURL* c = thread_handle();
  const RemoteOptions o = remote_options();
  curl_slist* headers = nullptr;
  if (!range.empty()) headers = curl_slist_append(headers, ("Range: bytes=" + range).c_str());
  if (!if_match.empty()) headers = curl_slist_append(headers, ("If-Match: " + if_match).c_str());
  if (t.s3) {
    if (const auto cred = credentials_from_env()) {
      headers = curl_slist_append(headers, ("Host: " + t.host).c_str());
      for (const auto& h : sign(*cred, "GET", t, std::time(nullptr))) headers = curl_slist_append(headers, h.c_str());
    }
  }
  char errbuf[CURL_ERROR_SIZE] = "";
  const long stall = std::max<long>(1, long(o.stall_seconds()));
  curl_easy_setopt(c, CURLOPT_URL, t.url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "pydmed_torch");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for timeouts
  curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);  // a key's "a/../b" is a key, signed as sent
  // S3 is never followed (a signature, a session token, are for one host); https never to http.
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, t.s3 ? 0L : 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, t.url.rfind("https://", 0) == 0 ? "https" : "http,https");
  if (!range.empty()) {  // a trickle cannot hold a read for ever: room for 64 KiB/s after a stall's wait
    const auto dash = range.find('-');
    const auto bytes = std::strtoull(range.c_str() + dash + 1, nullptr, 10) - std::strtoull(range.c_str(), nullptr, 10);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, long(3 * stall + 1 + bytes / (64 << 10)));
  }
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, stall);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);  // nothing for `stall` seconds: timed out
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, stall);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
  const CURLcode rc = curl_easy_perform(c);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);  // this frame's: the handle outlives it
  curl_slist_free_all(headers);
  Attempt a;
  if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && x.stopped)) {
    if (x.status >= 200 && x.status < 300) {
      a.ok = true;
    } else {
      a.retry = x.status >= 500 || x.status == 429;
      a.why = "the server said " + server_said(x);
    }
  } else {
    a.retry = retryable(rc);
    a.why = *errbuf ? errbuf : curl_easy_strerror(rc);
  }
  return a;
}

void backoff(int attempt_number) {
  thread_local std::minstd_rand jitter(std::random_device{}());
  const int ms = std::min(2000, 100 << std::min(attempt_number, 5));
  std::this_thread::sleep_for(std::chrono::milliseconds(ms / 2 + int(jitter() % unsigned(ms / 2 + 1))));
}

// Exchanges (restart() before each) until one succeeds and passes check(), a failure is final,
// or the tries are spent.
Reply run(const Target& t, const std::string& range, const std::string& if_match,
          const std::function<bool(const char*, std::size_t)>& sink,
          const std::function<void()>& restart, const std::function<std::string(const Exchange&)>& check) {
  const int tries = std::max(1, remote_options().tries());
  std::string why;
  for (int k = 0; k < tries; ++k) {
    if (k > 0) backoff(k - 1);
    restart();
    Exchange x;
    x.sink = &sink;
    Attempt a = attempt(t, range, if_match, x);
    if (a.ok) {
      a.why = check(x);
      if (a.why.empty()) {
        Reply r;
        if (const auto slash = x.content_range.rfind('/'); slash != std::string::npos)
          r.total = std::strtoull(x.content_range.c_str() + slash + 1, nullptr, 10);
        else if (!x.content_length.empty())
          r.total = std::strtoull(x.content_length.c_str(), nullptr, 10);
        r.etag = x.etag, r.last_modified = x.last_modified;
        r.bytes = std::size_t(x.received);
        return r;
      }
      a.retry = a.why.rfind("cut short", 0) == 0;
    }
    why = a.why;
    if (!a.retry) throw RemoteError(t.name, why);
  }
  throw RemoteError(t.name, why + (tries > 1 ? " (after " + std::to_string(tries) + " tries)" : ""));
}

}  // namespace

Reply get_range(const Target& t, void* dst, std::size_t n, std::uint64_t offset, const std::string& if_match) {
  std::size_t filled = 0;
  // Bytes past `n` (a server sending the whole object) stop the transfer; exactly `n` leaves the
  // connection open for the next request.
  auto sink = [&](const char* p, std::size_t len) {
    const std::size_t take = std::min(len, n - filled);
    std::memcpy(static_cast<char*>(dst) + filled, p, take);
    filled += take;
    return take == len;
  };
  const std::string range = std::to_string(offset) + "-" + std::to_string(offset + n - 1);
  auto check = [&](const Exchange& x) -> std::string {
    std::uint64_t total = 0;
    if (x.status == 206) {
      if (x.content_range.rfind("bytes " + std::to_string(offset) + "-", 0) != 0)
        return "the server answered another range (" + x.content_range + ") than asked (" + range + ")";
      total = std::strtoull(x.content_range.c_str() + x.content_range.rfind('/') + 1, nullptr, 10);
    } else if (x.status == 200 && offset == 0 && !x.content_length.empty()) {  // the whole object
      total = std::strtoull(x.content_length.c_str(), nullptr, 10);
    } else {
      return "the server ignores byte ranges (it answered " + std::to_string(x.status) + " to a Range request)";
    }
    const std::uint64_t expected = std::min<std::uint64_t>(n, total > offset ? total - offset : 0);
    if (filled < expected)
      return "cut short: " + std::to_string(filled) + " of " + std::to_string(expected) + " bytes arrived";
    return "";
  };
  return run(t, range, if_match, sink, [&] { filled = 0; }, check);
}

Reply get_all(const Target& t, const std::function<bool(const char*, std::size_t)>& sink) {
  bool started = false;
  auto wrapped = [&](const char* p, std::size_t len) {
    started = true;
    return sink(p, len);
  };
  auto restart = [&] {
    if (started) throw SlideError(t.name, "the transfer broke off and cannot resume");
  };
  auto check = [&](const Exchange& x) -> std::string {
    if (!x.content_length.empty() && !x.stopped && x.received != std::strtoull(x.content_length.c_str(), nullptr, 10))
      return "cut short: " + std::to_string(x.received) + " of " + x.content_length + " bytes arrived";
    return "";
  };
  return run(t, "", "", wrapped, restart, check);
}

std::string get_text(const Target& t) {
  std::string body;
  auto sink = [&](const char* p, std::size_t len) {
    body.append(p, len);
    return body.size() < (std::size_t(64) << 20);
  };
  run(t, "", "", sink, [&] { body.clear(); }, [](const Exchange&) { return std::string(); });
  return body;
}

void note_tiles_read(std::uint64_t bytes) {
  static const char* file = std::getenv("PYDMED_REMOTE_STATS");
  if (!file) return;
  const std::uint64_t total = fork_aware<Counts>().tiles.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  const std::string line =
      std::to_string(::getpid()) + " " + std::to_string(total) + " " + std::to_string(bytes_received()) + "\n";
  const int fd = ::open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  [[maybe_unused]] const auto w = ::write(fd, line.data(), line.size());  // one write: lines never interleave
  ::close(fd);
}

std::uint64_t bytes_received() { return fork_aware<Counts>().received.load(std::memory_order_relaxed); }

}  // namespace pydmed::remote
