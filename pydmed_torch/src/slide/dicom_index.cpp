#include "slide/dicom_index.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace pydmed {

namespace {

constexpr std::uint32_t kUndefined = 0xFFFFFFFFu;
constexpr std::uint32_t tag(std::uint16_t g, std::uint16_t e) { return std::uint32_t(g) << 16 | e; }
constexpr std::uint32_t kItem = kDicomItem, kItemEnd = tag(0xFFFE, 0xE00D), kSeqEnd = kDicomSequenceEnd;
constexpr std::uint32_t kPixelData = tag(0x7FE0, 0x0010), kTransferSyntax = tag(0x0002, 0x0010);
constexpr std::uint32_t kSopClass = tag(0x0002, 0x0002);

struct Layout : std::runtime_error {
  using std::runtime_error::runtime_error;  // why the walk stopped
};

struct Element {
  std::uint32_t tag = 0;
  char vr[3] = {0, 0, 0};  // "" in implicit VR and for items
  std::uint32_t length = 0;
  std::uint64_t start = 0, value = 0;  // where the element and its value begin
};

// Reads element headers at a position, through a window of the file (metadata is read in
// 64 KiB pieces, never the pixel data).
class Walker {
 public:
  explicit Walker(const ByteSource& src) : src_(src), size_(src.size()) {}
  std::uint64_t size() const { return size_; }

  const std::uint8_t* bytes(std::uint64_t at, std::size_t n) {
    if (at + n > size_) throw Layout("the file ends inside its metadata (truncated?)");
    if (at < base_ || at + n > base_ + window_.size()) {
      window_.resize(std::max<std::size_t>(n, std::size_t{64} << 10));
      window_.resize(src_.read_at(window_.data(), window_.size(), at));
      base_ = at;
      if (window_.size() < n) throw Layout("the file ends inside its metadata (truncated?)");
    }
    return window_.data() + (at - base_);
  }
  std::uint16_t u16(std::uint64_t at) {
    const std::uint8_t* p = bytes(at, 2);
    return std::uint16_t(p[0] | p[1] << 8);
  }
  std::uint32_t u32(std::uint64_t at) {
    const std::uint8_t* p = bytes(at, 4);
    return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 | std::uint32_t(p[3]) << 24;
  }

  Element element(std::uint64_t at, bool explicit_vr) {
    Element e;
    e.start = at;
    e.tag = std::uint32_t(u16(at)) << 16 | u16(at + 2);
    if ((e.tag >> 16) == 0xFFFE || !explicit_vr) {  // items and delimiters carry no VR
      e.length = u32(at + 4);
      e.value = at + 8;
      return e;
    }
    std::memcpy(e.vr, bytes(at + 4, 2), 2);
    static const char* kLong[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"};
    const bool long_form = std::any_of(std::begin(kLong), std::end(kLong), [&](const char* v) { return !std::strcmp(v, e.vr); });
    e.length = long_form ? u32(at + 8) : u16(at + 6);
    e.value = at + (long_form ? 12 : 8);
    return e;
  }

  // Past a sequence (or UN) of undefined length whose items start at `at`; returns where it ends.
  std::uint64_t skip_sequence(std::uint64_t at, bool explicit_vr, int depth) {
    if (depth > 64) throw Layout("sequences nested too deep");
    for (;;) {
      const Element item = element(at, explicit_vr);
      if (item.tag == kSeqEnd) return item.value;
      if (item.tag != kItem) throw Layout("a sequence holds something other than items");
      if (item.length != kUndefined) {
        at = item.value + item.length;
        continue;
      }
      at = item.value;  // an item of undefined length: its elements, up to its delimiter
      for (;;) {
        const Element e = element(at, explicit_vr);
        if (e.tag == kItemEnd) {
          at = e.value;
          break;
        }
        at = skip(e, explicit_vr, depth);
      }
    }
  }

  // Where the element after `e` starts.
  std::uint64_t skip(const Element& e, bool explicit_vr, int depth) {
    if (e.length == kUndefined)  // UN of undefined length holds implicit VR, whatever the transfer syntax
      return skip_sequence(e.value, explicit_vr && std::strcmp(e.vr, "UN") != 0, depth + 1);
    if (e.value + e.length > size_) throw Layout("the file ends inside its metadata (truncated?)");
    return e.value + e.length;
  }

 private:
  const ByteSource& src_;
  std::uint64_t size_;
  std::vector<std::uint8_t> window_;
  std::uint64_t base_ = 0;
};

std::string trimmed(const std::uint8_t* p, std::size_t n) {
  std::string s(reinterpret_cast<const char*>(p), n);
  while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

bool has_dicom_signature(const ByteSource& src) {
  char magic[4];
  return src.read_at(magic, 4, 128) == 4 && std::memcmp(magic, "DICM", 4) == 0;
}

std::string read_dicom_layout(const ByteSource& src, DicomLayout* out) {
  try {
    if (!has_dicom_signature(src)) return "not a DICOM file (no DICM after the preamble)";
    Walker w(src);
    std::uint64_t at = 132;
    for (;;) {  // the meta group: explicit VR little endian always
      const Element e = w.element(at, true);
      if ((e.tag >> 16) != 0x0002) break;
      if (e.tag == kTransferSyntax) out->transfer_syntax = trimmed(w.bytes(e.value, e.length), e.length);
      if (e.tag == kSopClass) out->sop_class = trimmed(w.bytes(e.value, e.length), e.length);
      at = w.skip(e, true, 0);
    }
    const std::string& ts = out->transfer_syntax;
    if (ts.empty()) return "no transfer syntax in its meta information";
    if (ts == "1.2.840.10008.1.2.2") return "big-endian transfer syntax (retired) is not read";
    if (ts == "1.2.840.10008.1.2.1.99") return "deflated transfer syntax is not read";
    const bool explicit_vr = ts != "1.2.840.10008.1.2";
    while (at < w.size()) {
      const Element e = w.element(at, explicit_vr);
      if (e.tag == kPixelData) {
        out->header_end = e.start;
        out->encapsulated = e.length == kUndefined;
        if (out->encapsulated) {
          out->items = e.value;
        } else {
          if (e.value + e.length > w.size()) return "the file ends inside its pixel data (truncated?)";
          out->native = {e.value, e.length};
        }
        return "";
      }
      if (e.tag > kPixelData) break;  // elements are in ascending order: it is not there
      at = w.skip(e, explicit_vr, 0);
    }
    return "no Pixel Data";
  } catch (const Layout& e) {
    return e.what();
  }
}

std::optional<ItemHeader> read_item_header(const ByteSource& src, std::uint64_t at) {
  std::uint8_t b[8];
  if (src.read_at(b, 8, at) != 8) return std::nullopt;
  return ItemHeader{std::uint32_t(b[0] | b[1] << 8) << 16 | std::uint32_t(b[2] | b[3] << 8),
                    std::uint32_t(b[4]) | std::uint32_t(b[5]) << 8 | std::uint32_t(b[6]) << 16 |
                        std::uint32_t(b[7]) << 24};
}

std::string read_fragments(const ByteSource& src, const DicomLayout& layout, std::vector<ByteRange>* out) {
  // Item headers only, 8 bytes each: a window would read the frames between them too.
  const char* truncated = "the file ends inside its pixel data (truncated?)";
  std::optional<ItemHeader> h = read_item_header(src, layout.items);
  if (!h) return truncated;
  if (h->tag != kItem || h->length == kUndefined) return "encapsulated Pixel Data without an offset table item";
  for (std::uint64_t at = layout.items + 8 + h->length;;) {
    if (!(h = read_item_header(src, at))) return truncated;
    if (h->tag == kSeqEnd) return "";
    if (h->tag != kItem || h->length == kUndefined) return "Pixel Data holds something other than fragments";
    if (at + 8 + h->length > src.size()) return truncated;
    out->push_back({at + 8, h->length});
    at += 8 + std::uint64_t(h->length);
  }
}

}  // namespace pydmed
