#include "slide/tiff_pyramid.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "pydmed/error.hpp"
#include "slide/image_header.hpp"
#include "slide/tiff_log.hpp"

namespace pydmed {
namespace {

constexpr std::uint64_t kQuickhashMaxBytes = 5 << 20;  // OpenSlide omits the hash above this

// g_strstrip: ASCII whitespace off both ends.
std::string strip(const std::string& s) {
  const char* ws = " \t\n\v\f\r";
  const auto b = s.find_first_not_of(ws);
  return b == std::string::npos ? "" : s.substr(b, s.find_last_not_of(ws) - b + 1);
}

std::vector<std::string> split(const std::string& s, const std::string& any_of) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || any_of.find(s[i]) != std::string::npos) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

std::optional<std::string> ascii_tag(TIFF* t, ttag_t tag) {
  const char* v = nullptr;
  if (TIFFGetField(t, tag, &v) && v) return std::string(v);
  return std::nullopt;
}

// Aperio's ImageDescription: "Aperio Image Library ... |AppMag = 20|MPP = 0.499|..." (aperio.c's
// add_properties: the first part skipped, each other split at its first '=', both sides stripped;
// a part without '=' keeps its name with no value).
void add_aperio_properties(const std::string& desc, std::map<std::string, std::string>& props) {
  const auto parts = split(desc, "|");
  for (std::size_t i = 1; i < parts.size(); ++i) {
    if (parts[i].empty()) continue;
    const auto eq = parts[i].find('=');
    props["aperio." + strip(parts[i].substr(0, eq))] = eq == std::string::npos ? "" : strip(parts[i].substr(eq + 1));
  }
  // _openslide_duplicate_int_prop / _double_prop: only values that parse whole (an integer out
  // of range is clamped, as g_ascii_strtoll does; a double out of range or NaN is dropped).
  if (auto it = props.find("aperio.AppMag"); it != props.end() && !it->second.empty()) {
    char* end = nullptr;
    const long long v = std::strtoll(it->second.c_str(), &end, 10);
    if (*end == '\0') props["openslide.objective-power"] = std::to_string(v);
  }
  if (auto it = props.find("aperio.MPP"); it != props.end() && !it->second.empty()) {
    std::string s = it->second;
    std::replace(s.begin(), s.end(), ',', '.');
    const char* first = s.c_str() + (s[0] == '+' ? 1 : 0);  // g_ascii_strtod takes a plus sign, from_chars not
    double v = 0;
    const auto r = std::from_chars(first, s.c_str() + s.size(), v);
    if (r.ec == std::errc() && r.ptr == s.c_str() + s.size() && !std::isnan(v))
      props["openslide.mpp-x"] = props["openslide.mpp-y"] = format_double(v);
  }
}

// The name Aperio gives a stripped directory: "thumbnail" for directory 1, else the first word
// of its ImageDescription's second line ("label 387x463" gives "label").
std::string aperio_associated_name(TIFF* t, tdir_t dir) {
  if (dir == 1) return "thumbnail";
  const auto desc = ascii_tag(t, TIFFTAG_IMAGEDESCRIPTION);
  if (!desc) return "";
  const auto lines = split(*desc, "\r\n");
  return lines.size() < 2 ? "" : split(lines[1], " ")[0];
}

// openslide.quickhash-1 (openslide-decode-tifflike.c): SHA-256 of the raw tiles of the smallest
// level, then of nine string tags of directory 0, each name and value with its NUL. Empty when
// the tiles exceed 5 MiB, where OpenSlide sets no hash; nullopt when they cannot be read (and
// OpenSlide fails the open).
std::optional<std::string> quickhash(const ByteSource& src, const TileLevel& smallest,
                                     const std::vector<std::optional<std::string>>& strings, const char* const* names) {
  std::uint64_t total = 0;
  for (auto n : smallest.byte_counts) total += n;
  if (total > kQuickhashMaxBytes) return "";
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<std::uint8_t> buf;
  bool ok = true;
  for (std::size_t i = 0; i < smallest.offsets.size() && ok; ++i) {
    buf.resize(smallest.byte_counts[i]);
    try {
      ok = src.read_at(buf.data(), buf.size(), smallest.offsets[i]) == buf.size();
    } catch (const RemoteError&) {
      throw;
    } catch (const std::exception&) {
      ok = false;
    }
    EVP_DigestUpdate(ctx.get(), buf.data(), buf.size());
  }
  if (!ok) return std::nullopt;
  for (std::size_t i = 0; i < strings.size(); ++i) {
    EVP_DigestUpdate(ctx.get(), names[i], std::strlen(names[i]) + 1);
    const std::string v = strings[i].value_or("");
    EVP_DigestUpdate(ctx.get(), v.c_str(), v.size() + 1);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  std::string hex;
  char two[3];
  for (unsigned int i = 0; i < len; ++i) std::snprintf(two, sizeof two, "%02x", md[i]), hex += two;
  return hex;
}

// Whether OpenSlide decodes this directory's tiles straight with libjpeg (its read_direct
// path: JPEG, contiguous 8-bit RGB or YCbCr), and where they are. "" or why not.
std::string read_level(TIFF* t, tdir_t dir, std::uint64_t file_size, TileLevel& L) {
  std::uint16_t compression = 0, planar = 0, photometric = 0, bits = 0, spp = 0;
  std::uint32_t w = 0, h = 0, tw = 0, th = 0;
  if (!TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h) ||
      !TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw) || !TIFFGetField(t, TIFFTAG_TILELENGTH, &th) ||
      !TIFFGetField(t, TIFFTAG_COMPRESSION, &compression) || !TIFFGetField(t, TIFFTAG_PLANARCONFIG, &planar) ||
      !TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photometric) || !TIFFGetField(t, TIFFTAG_BITSPERSAMPLE, &bits) ||
      !TIFFGetField(t, TIFFTAG_SAMPLESPERPIXEL, &spp)) {
    return "directory " + std::to_string(dir) + " lacks a required tag";
  }
  if (compression != COMPRESSION_JPEG || planar != PLANARCONFIG_CONTIG || bits != 8 || spp != 3 ||
      (photometric != PHOTOMETRIC_RGB && photometric != PHOTOMETRIC_YCBCR)) {
    return "directory " + std::to_string(dir) + " is not 8-bit RGB or YCbCr JPEG (compression " +
           std::to_string(compression) + ")";
  }
  if (w == 0 || h == 0 || tw == 0 || th == 0) return "directory " + std::to_string(dir) + " is empty";
  if (tw > 65535 || th > 65535) return "directory " + std::to_string(dir) + " has tiles larger than a JPEG can be";
  L.width = w, L.height = h, L.tile_width = tw, L.tile_height = th;
  L.tiles_across = (L.width + tw - 1) / tw;
  L.colour = photometric == PHOTOMETRIC_YCBCR ? JpegColour::kYCbCr : JpegColour::kRgb;
  const std::uint32_t n = TIFFNumberOfTiles(t);
  if (std::int64_t(n) != L.tiles_across * ((L.height + th - 1) / th))
    return "directory " + std::to_string(dir) + " has the wrong tile count";
  L.offsets.resize(n), L.byte_counts.resize(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    L.offsets[i] = TIFFGetStrileOffset(t, i);
    L.byte_counts[i] = TIFFGetStrileByteCount(t, i);
    // A tile past the end of the file (a cut file): OpenSlide's to read and fail.
    if (L.offsets[i] > file_size || L.byte_counts[i] > file_size - L.offsets[i])
      return "a tile lies past the end of the file";
    L.largest_tile_bytes = std::max(L.largest_tile_bytes, L.byte_counts[i]);
  }
  std::uint32_t count = 0;
  void* tables = nullptr;
  if (TIFFGetField(t, TIFFTAG_JPEGTABLES, &count, &tables) && tables && count > 0) {
    const auto* b = static_cast<const std::uint8_t*>(tables);
    L.jpeg_tables.assign(b, b + count);
  }
  return "";
}

}  // namespace

std::string read_tiff_pyramid(std::shared_ptr<const ByteSource> src, const std::string& vendor, bool with_quickhash,
                              TiffPyramid& out) {
  TiffErrors errors;
  TiffPtr tif = open_tiff(src, &errors);
  if (!tif) return "libtiff cannot open it: " + errors.last;
  TIFF* t = tif.get();
  const bool aperio = vendor == "aperio";
  out = TiffPyramid{};
  out.vendor = vendor;
  static const char* const kStringNames[] = {"tiff.ImageDescription", "tiff.Make",      "tiff.Model",
                                             "tiff.Software",         "tiff.DateTime",  "tiff.Artist",
                                             "tiff.HostComputer",     "tiff.Copyright", "tiff.DocumentName"};
  static const ttag_t kStringTags[] = {TIFFTAG_IMAGEDESCRIPTION, TIFFTAG_MAKE,      TIFFTAG_MODEL,
                                       TIFFTAG_SOFTWARE,         TIFFTAG_DATETIME,  TIFFTAG_ARTIST,
                                       TIFFTAG_HOSTCOMPUTER,     TIFFTAG_COPYRIGHT, TIFFTAG_DOCUMENTNAME};
  std::vector<std::optional<std::string>> strings;
  for (ttag_t tag : kStringTags) strings.push_back(ascii_tag(t, tag));
  std::uint16_t unit = 0;
  const bool has_unit = TIFFGetField(t, TIFFTAG_RESOLUTIONUNIT, &unit) != 0;

  // The levels: generic-tiff takes directory 0 and every tiled reduced-resolution image,
  // widest first; Aperio takes every tiled directory in file order and names the stripped ones.
  std::vector<std::pair<std::string, tdir_t>> associated;
  do {
    const tdir_t dir = TIFFCurrentDirectory(t);
    std::uint32_t depth = 1;
    if (aperio && TIFFGetField(t, TIFFTAG_IMAGEDEPTH, &depth) && depth != 1)
      return "ImageDepth " + std::to_string(depth);
    if (!TIFFIsTiled(t)) {
      if (aperio) {
        const std::string name = aperio_associated_name(t, dir);
        if (!name.empty()) associated.emplace_back(name, dir);
      }
      continue;
    }
    if (!aperio && dir != 0) {
      std::uint32_t subfile = 0;
      if (!TIFFGetField(t, TIFFTAG_SUBFILETYPE, &subfile) || !(subfile & FILETYPE_REDUCEDIMAGE)) continue;
    }
    TileLevel L;
    if (std::string why = read_level(t, dir, src->size(), L); !why.empty()) return why;
    // Aperio marks tiles next to a zero-length one missing and paints them from the level above:
    // only OpenSlide reproduces that.
    if (aperio && std::count(L.byte_counts.begin(), L.byte_counts.end(), 0) > 0)
      return "Aperio level with missing tiles";
    out.tiff_levels.push_back(std::move(L));
  } while (TIFFReadDirectory(t));
  if (!errors.remote.empty()) throw RemoteError(src->name(), errors.remote);
  if (!errors.last.empty() && out.tiff_levels.empty()) return errors.last;
  if (out.tiff_levels.empty()) return "no tiled level";
  if (!aperio) {
    std::stable_sort(out.tiff_levels.begin(), out.tiff_levels.end(),
                     [](const TileLevel& a, const TileLevel& b) { return a.width > b.width; });
  }

  auto& props = out.properties;
  if (std::string why = pyramid_levels(out.tiff_levels, out.tiff_levels.size(), &out.levels, &props); !why.empty())
    return why;
  props["openslide.vendor"] = vendor;
  for (std::size_t i = 0; i < strings.size(); ++i)
    if (strings[i]) props[kStringNames[i]] = *strings[i];
  if (strings[0]) props["openslide.comment"] = *strings[0];
  static const std::pair<const char*, std::uint16_t> kReals[] = {{"tiff.XResolution", TIFFTAG_XRESOLUTION},
                                                                 {"tiff.YResolution", TIFFTAG_YRESOLUTION},
                                                                 {"tiff.XPosition", TIFFTAG_XPOSITION},
                                                                 {"tiff.YPosition", TIFFTAG_YPOSITION}};
  for (const auto& [name, tag] : kReals)
    if (auto v = tiff_first_directory_real(*src, tag)) props[name] = format_double(*v);
  props["tiff.ResolutionUnit"] = !has_unit || unit == RESUNIT_INCH ? "inch"
                                 : unit == RESUNIT_NONE            ? "none"
                                 : unit == RESUNIT_CENTIMETER      ? "centimeter"
                                                                   : "unknown";
  if (aperio) {
    if (!strings[0]) return "Aperio slide without ImageDescription";
    add_aperio_properties(*strings[0], props);
  }
  if (with_quickhash) {
    const auto hash = quickhash(*src, out.tiff_levels.back(), strings, kStringNames);
    if (!hash) return "cannot read the smallest level's tiles for openslide.quickhash-1";
    if (!hash->empty()) props["openslide.quickhash-1"] = *hash;
  }
  // A later image of the same name replaces an earlier one; OpenSlide lists the names sorted.
  for (const auto& a : associated) out.associated.push_back(a.first);
  std::sort(out.associated.begin(), out.associated.end());
  out.associated.erase(std::unique(out.associated.begin(), out.associated.end()), out.associated.end());
  return "";
}

std::string detect_tiff_vendor(std::shared_ptr<const ByteSource> src) {
  TiffErrors errors;
  TiffPtr tif = open_tiff(std::move(src), &errors);
  if (!tif) return "";
  TIFF* t = tif.get();
  const std::string desc = ascii_tag(t, TIFFTAG_IMAGEDESCRIPTION).value_or("");
  const std::string software = ascii_tag(t, TIFFTAG_SOFTWARE).value_or("");
  std::uint32_t xmp_size = 0;
  void* xmp = nullptr;
  const std::string xmp_text = TIFFGetField(t, TIFFTAG_XMLPACKET, &xmp_size, &xmp) && xmp
                                   ? std::string(static_cast<const char*>(xmp), xmp_size)
                                   : "";
  constexpr ttag_t kNdpiFormatFlag = 65420;
  std::uint32_t ndpi_count = 0;
  void* ndpi = nullptr;
  const bool is_ndpi = TIFFFindField(t, kNdpiFormatFlag, TIFF_ANY) && TIFFGetField(t, kNdpiFormatFlag, &ndpi_count, &ndpi);
  if (is_ndpi || software.rfind("MedScan", 0) == 0 || desc.find("DPUfsImport") != std::string::npos ||
      desc.find("leica-microsystems.com/scn") != std::string::npos || xmp_text.find("iScan") != std::string::npos)
    return "";
  if (!TIFFIsTiled(t)) return "";
  return desc.rfind("Aperio", 0) == 0 ? "aperio" : "generic-tiff";
}

}  // namespace pydmed
