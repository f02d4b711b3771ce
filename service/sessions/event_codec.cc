#include "service/sessions/event_codec.h"

#include <cstdint>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "service/common/status_macros.h"

namespace docshare {
namespace {

constexpr char kMagic = 'D';
constexpr char kVersion = 1;
constexpr uint8_t kShared = 1;
constexpr uint8_t kEnded = 2;

class Writer {
 public:
  void Byte(uint8_t b) { out_.push_back(static_cast<char>(b)); }
  void Unsigned(uint64_t v) {
    while (v >= 0x80) {
      Byte(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    Byte(static_cast<uint8_t>(v));
  }
  void Signed(int64_t v) {
    Unsigned((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
  }
  void Bytes(std::string_view s) {
    Unsigned(s.size());
    out_.append(s);
  }
  void Time(absl::Time t) { Signed(absl::ToUnixMicros(t)); }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

absl::Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("malformed event encoding: ", std::string(what)));
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  absl::StatusOr<uint8_t> Byte() {
    if (in_.empty()) return Malformed("truncated");
    const auto b = static_cast<uint8_t>(in_.front());
    in_.remove_prefix(1);
    return b;
  }
  absl::StatusOr<uint64_t> Unsigned() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      ASSIGN_OR_RETURN(uint8_t b, Byte());
      if (shift == 63 && b > 1) return Malformed("varint overflows 64 bits");
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    return Malformed("varint longer than 10 bytes");
  }
  absl::StatusOr<int64_t> Signed() {
    ASSIGN_OR_RETURN(uint64_t u, Unsigned());
    return static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
  }
  absl::StatusOr<int> Int() {
    ASSIGN_OR_RETURN(int64_t v, Signed());
    if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) {
      return Malformed("integer out of range");
    }
    return static_cast<int>(v);
  }
  absl::StatusOr<bool> Bool() {
    ASSIGN_OR_RETURN(uint8_t b, Byte());
    if (b > 1) return Malformed("bad boolean");
    return b == 1;
  }
  absl::StatusOr<std::string> Bytes() {
    ASSIGN_OR_RETURN(uint64_t n, Unsigned());
    if (n > in_.size()) return Malformed("string longer than the input");
    std::string s(in_.substr(0, n));
    in_.remove_prefix(n);
    return s;
  }
  absl::StatusOr<absl::Time> Time() {
    ASSIGN_OR_RETURN(int64_t micros, Signed());
    return absl::FromUnixMicros(micros);
  }
  // An enum stored as one byte, accepted only up to `max`.
  template <typename E>
  absl::StatusOr<E> Enum(E max) {
    ASSIGN_OR_RETURN(uint8_t b, Byte());
    if (b > static_cast<uint8_t>(max)) return Malformed("enum out of range");
    return static_cast<E>(b);
  }
  size_t left() const { return in_.size(); }

 private:
  std::string_view in_;
};

void EncodeDocument(const Document& d, Writer& w) {
  w.Bytes(d.document_id);
  w.Bytes(d.session_id);
  w.Bytes(d.filename);
  w.Byte(static_cast<uint8_t>(d.source_type));
  w.Bytes(d.source_mime_type);
  w.Signed(d.source_width);
  w.Signed(d.source_height);
  w.Signed(d.frame_count);
  w.Unsigned(d.source_bytes);
  w.Byte(static_cast<uint8_t>(d.shared_by));
  w.Byte(d.declared_type_mismatch ? 1 : 0);
  w.Time(d.shared_at);
  w.Unsigned(d.previews.size());
  for (const Preview& p : d.previews) {
    w.Byte(static_cast<uint8_t>(p.rendition));
    w.Bytes(p.mime_type);
    w.Signed(p.width);
    w.Signed(p.height);
    w.Bytes(p.data ? std::string_view(*p.data) : std::string_view());
  }
}

absl::StatusOr<std::shared_ptr<const Document>> DecodeDocument(Reader& r) {
  auto d = std::make_shared<Document>();
  ASSIGN_OR_RETURN(d->document_id, r.Bytes());
  ASSIGN_OR_RETURN(d->session_id, r.Bytes());
  ASSIGN_OR_RETURN(d->filename, r.Bytes());
  ASSIGN_OR_RETURN(d->source_type, r.Enum(FileType::kGif));
  ASSIGN_OR_RETURN(d->source_mime_type, r.Bytes());
  ASSIGN_OR_RETURN(d->source_width, r.Int());
  ASSIGN_OR_RETURN(d->source_height, r.Int());
  ASSIGN_OR_RETURN(d->frame_count, r.Int());
  ASSIGN_OR_RETURN(d->source_bytes, r.Unsigned());
  ASSIGN_OR_RETURN(d->shared_by, r.Enum(Role::kConsumer));
  ASSIGN_OR_RETURN(d->declared_type_mismatch, r.Bool());
  ASSIGN_OR_RETURN(d->shared_at, r.Time());
  ASSIGN_OR_RETURN(uint64_t count, r.Unsigned());
  // A preview takes at least 5 bytes: a count beyond that is a lie, and
  // reserving for it could allocate without bound.
  if (count > r.left() / 5) return Malformed("more previews than bytes");
  d->previews.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    Preview p;
    ASSIGN_OR_RETURN(p.rendition, r.Enum(Rendition::kDisplay));
    ASSIGN_OR_RETURN(p.mime_type, r.Bytes());
    ASSIGN_OR_RETURN(p.width, r.Int());
    ASSIGN_OR_RETURN(p.height, r.Int());
    ASSIGN_OR_RETURN(std::string data, r.Bytes());
    p.data = std::make_shared<const std::string>(std::move(data));
    d->previews.push_back(std::move(p));
  }
  return std::shared_ptr<const Document>(std::move(d));
}

}  // namespace

std::string EncodeEvent(const SessionEvent& event) {
  Writer w;
  w.Byte(kMagic);
  w.Byte(kVersion);
  w.Unsigned(event.sequence);
  w.Time(event.time);
  if (const auto* shared = std::get_if<DocumentShared>(&event.event)) {
    w.Byte(kShared);
    static const Document kEmpty;
    EncodeDocument(shared->document ? *shared->document : kEmpty, w);
  } else {
    w.Byte(kEnded);
    w.Bytes(std::get<SessionEnded>(event.event).reason);
  }
  return w.Take();
}

absl::StatusOr<SessionEvent> DecodeEvent(std::string_view bytes) {
  Reader r(bytes);
  ASSIGN_OR_RETURN(uint8_t magic, r.Byte());
  ASSIGN_OR_RETURN(uint8_t version, r.Byte());
  if (magic != kMagic || version != kVersion)
    return Malformed("unknown magic or version");
  SessionEvent event;
  ASSIGN_OR_RETURN(event.sequence, r.Unsigned());
  ASSIGN_OR_RETURN(event.time, r.Time());
  ASSIGN_OR_RETURN(uint8_t kind, r.Byte());
  if (kind == kShared) {
    ASSIGN_OR_RETURN(std::shared_ptr<const Document> doc, DecodeDocument(r));
    event.event = DocumentShared{std::move(doc)};
  } else if (kind == kEnded) {
    ASSIGN_OR_RETURN(std::string reason, r.Bytes());
    event.event = SessionEnded{std::move(reason)};
  } else {
    return Malformed("unknown event kind");
  }
  if (r.left() != 0) return Malformed("trailing bytes");
  return event;
}

}  // namespace docshare
