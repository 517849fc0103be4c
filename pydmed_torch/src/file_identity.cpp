#include "pydmed/file_identity.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "pydmed/slide/remote.hpp"
#include "slide/image_header.hpp"

namespace fs = std::filesystem;

namespace pydmed {

std::string resolved_path(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::absolute(path, ec);
  // A dangling link: weakly_canonical stops at it, so follow it by hand first.
  for (int hops = 0; hops < 40 && fs::is_symlink(fs::symlink_status(p, ec)) && !fs::exists(p, ec); ++hops) {
    const fs::path to = fs::read_symlink(p, ec);
    if (ec) break;
    p = to.is_absolute() ? to : p.parent_path() / to;
  }
  const fs::path c = fs::weakly_canonical(p, ec);
  return (ec ? p.lexically_normal() : c).string();
}

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {
  }, sb{};
  if (::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0)
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  return resolved_path(a) == resolved_path(b);
}

std::string input_named_by(const std::string& output, const std::vector<std::string>& inputs) {
  if (output.empty() || output == "-") return "";
  for (const std::string& in : inputs)
    if (!in.empty() && same_file(output, in)) return in;
  return "";
}

namespace {
struct Stamp {
  unsigned long long bytes = 0;
  long long sec = 0, nsec = 0;
  void add(const struct stat& st) {
    bytes += static_cast<unsigned long long>(st.st_size);
    if (std::make_pair<long long, long long>(st.st_mtim.tv_sec, st.st_mtim.tv_nsec) > std::make_pair(sec, nsec)) {
      sec = st.st_mtim.tv_sec;
      nsec = st.st_mtim.tv_nsec;
    }
  }
};
}  // namespace

std::string content_stamp(const std::string& path) {
  if (is_url(path)) return remote_stamp(path);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "missing";
  Stamp s;
  s.add(st);
  fs::path p(path);
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  std::error_code ec;
  // Formats of several files count them all: MIRAX's data folder, a DICOM series' folder.
  fs::path folder;
  if (ext == ".mrxs") folder = p.parent_path() / p.stem();
  else if (S_ISDIR(st.st_mode)) folder = p;
  else if (sniff_image_kind(path) == ImageKind::kDicom) folder = p.parent_path();
  if (!folder.empty() && fs::is_directory(folder, ec)) {
    const bool dicom = ext != ".mrxs";  // a series: only the DICOM files beside it, not other slides or outputs
    for (const auto& e : fs::directory_iterator(folder, ec))
      if (e.path() != p && ::stat(e.path().c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
          (!dicom || sniff_image_kind(e.path().string()) == ImageKind::kDicom))
        s.add(st);
  }
  char buf[96];
  std::snprintf(buf, sizeof buf, "%llu bytes, modified %lld.%09lld", s.bytes, s.sec, s.nsec);
  return buf;
}

}  // namespace pydmed
