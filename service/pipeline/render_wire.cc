#include "service/pipeline/render_wire.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "service/common/reject.h"

namespace docshare {
namespace {

constexpr char kInit = 'I';
constexpr char kReady = 'R';
constexpr char kRequest = 'Q';
constexpr char kRenditions = 'K';
constexpr char kError = 'E';

// Appends little-endian fields to a payload.
class Writer {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
  }
  void U64(uint64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
  }
  void I32(int v) { U32(static_cast<uint32_t>(v)); }
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  // The whole frame: length prefix, then the payload, plus `extra` bytes the
  // caller sends after it.
  std::string Frame(size_t extra = 0) && {
    Writer frame;
    frame.U32(static_cast<uint32_t>(out_.size() + extra));
    return std::move(frame.out_) + out_;
  }

 private:
  std::string out_;
};

// Reads little-endian fields; the first short read poisons it for good.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool done() const { return ok_ && in_.empty(); }
  std::string_view Rest() {
    std::string_view rest = in_;
    in_ = {};
    return rest;
  }
  uint8_t U8() { return static_cast<uint8_t>(Take(1)[0]); }
  uint32_t U32() { return static_cast<uint32_t>(Le(4)); }
  uint64_t U64() { return Le(8); }
  int I32() { return static_cast<int32_t>(U32()); }
  std::string_view Str() {
    const uint32_t size = U32();
    if (!ok_ || size > in_.size()) {
      ok_ = false;
      return {};
    }
    std::string_view s = in_.substr(0, size);
    in_.remove_prefix(size);
    return s;
  }

 private:
  std::string_view Take(size_t n) {
    static constexpr char kZeros[8] = {};
    if (!ok_ || n > in_.size()) {
      ok_ = false;
      return {kZeros, n};
    }
    std::string_view s = in_.substr(0, n);
    in_.remove_prefix(n);
    return s;
  }
  uint64_t Le(size_t n) {
    std::string_view b = Take(n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= uint64_t{static_cast<uint8_t>(b[i])} << (8 * i);
    return v;
  }

  std::string_view in_;
  bool ok_ = true;
};

absl::Status Malformed(std::string_view what) {
  return absl::DataLossError(std::string("malformed render worker frame: ") + std::string(what));
}

bool ValidFileType(uint8_t v) { return v >= 1 && v <= static_cast<uint8_t>(FileType::kGif); }
bool ValidFormat(uint8_t v) { return v <= static_cast<uint8_t>(PreviewFormat::kGif); }
bool ValidReason(uint8_t v) { return v <= static_cast<uint8_t>(RejectReason::kCorruptImage); }
bool ValidRendition(uint8_t v) { return v <= static_cast<uint8_t>(Rendition::kDisplay); }
// A size an image or preview can have (libvips' own limit is 10M per edge).
bool ValidEdge(int v) { return v >= 0 && v <= 10'000'000; }

void PutPreview(Writer& w, const Preview& p) {
  w.U8(static_cast<uint8_t>(p.rendition));
  w.Str(p.mime_type);
  w.I32(p.width);
  w.I32(p.height);
  w.Str(p.data ? std::string_view(*p.data) : std::string_view());
}

bool GetPreview(Reader& r, Preview& p) {
  const uint8_t rendition = r.U8();
  const std::string_view mime = r.Str();
  p.width = r.I32();
  p.height = r.I32();
  const std::string_view data = r.Str();
  if (!r.ok() || !ValidRendition(rendition) || !ValidEdge(p.width) || !ValidEdge(p.height) ||
      mime.size() > 64) {
    return false;
  }
  p.rendition = static_cast<Rendition>(rendition);
  p.mime_type = std::string(mime);
  p.data = std::make_shared<const std::string>(data);
  return true;
}

}  // namespace

std::string EncodeInit(const WorkerInit& init) {
  Writer w;
  w.U8(kInit);
  w.I32(init.options.display_size);
  w.I32(init.options.thumbnail_size);
  w.U8(static_cast<uint8_t>(init.options.format));
  w.I32(init.options.quality);
  w.I32(init.options.webp_effort);
  w.U64(init.memory_limit);
  return std::move(w).Frame();
}

absl::StatusOr<WorkerInit> DecodeInit(std::string_view payload) {
  Reader r(payload);
  WorkerInit init;
  const uint8_t kind = r.U8();
  init.options.display_size = r.I32();
  init.options.thumbnail_size = r.I32();
  const uint8_t format = r.U8();
  init.options.quality = r.I32();
  init.options.webp_effort = r.I32();
  init.memory_limit = r.U64();
  if (!r.done() || kind != kInit) return Malformed("init");
  if (!ValidFormat(format) || !ValidEdge(init.options.display_size) ||
      !ValidEdge(init.options.thumbnail_size)) {
    return Malformed("init options");
  }
  init.options.format = static_cast<PreviewFormat>(format);
  return init;
}

std::string EncodeReady() {
  Writer w;
  w.U8(kReady);
  return std::move(w).Frame();
}

absl::Status DecodeReady(std::string_view payload) {
  if (payload.size() != 1 || payload[0] != kReady) return Malformed("ready");
  return absl::OkStatus();
}

std::string EncodeRequestHead(const ImageHeader& header, size_t image_bytes) {
  Writer w;
  w.U8(kRequest);
  w.U8(static_cast<uint8_t>(header.type));
  w.I32(header.width);
  w.I32(header.height);
  w.I32(header.frame_count);
  w.U64(header.bytes);
  return std::move(w).Frame(image_bytes);
}

absl::StatusOr<RenderRequest> DecodeRequest(std::string_view payload) {
  Reader r(payload);
  RenderRequest request;
  const uint8_t kind = r.U8();
  const uint8_t type = r.U8();
  request.header.width = r.I32();
  request.header.height = r.I32();
  request.header.frame_count = r.I32();
  request.header.bytes = r.U64();
  if (!r.ok() || kind != kRequest) return Malformed("request");
  if (!ValidFileType(type) || !ValidEdge(request.header.width) ||
      !ValidEdge(request.header.height) || request.header.frame_count < 1) {
    return Malformed("request header");
  }
  request.header.type = static_cast<FileType>(type);
  request.bytes = r.Rest();
  return request;
}

std::string EncodeResponse(const absl::StatusOr<Renditions>& result) {
  Writer w;
  if (!result.ok()) {
    const absl::Status& s = result.status();
    w.U8(kError);
    w.U8(static_cast<uint8_t>(s.code()));
    w.U8(static_cast<uint8_t>(GetRejectReason(s)));
    w.Str(GetDetectedMime(s));
    w.Str(std::string_view(s.message().data(), s.message().size()));
    return std::move(w).Frame();
  }
  w.U8(kRenditions);
  w.I32(result->width);
  w.I32(result->height);
  w.I32(result->frame_count);
  PutPreview(w, result->thumbnail);
  PutPreview(w, result->display);
  return std::move(w).Frame();
}

absl::StatusOr<absl::StatusOr<Renditions>> DecodeResponse(std::string_view payload) {
  Reader r(payload);
  const uint8_t kind = r.U8();
  if (kind == kError) {
    const uint8_t code = r.U8();
    const uint8_t reason = r.U8();
    const std::string_view mime = r.Str();
    const std::string_view message = r.Str();
    if (!r.done()) return Malformed("error response");
    if (code == 0 || code > static_cast<uint8_t>(absl::StatusCode::kUnauthenticated) ||
        !ValidReason(reason) || mime.size() > 64) {
      return Malformed("error response fields");
    }
    if (reason != static_cast<uint8_t>(RejectReason::kNone)) {
      return absl::StatusOr<Renditions>(
          Reject(static_cast<RejectReason>(reason), mime, message));
    }
    return absl::StatusOr<Renditions>(
        absl::Status(static_cast<absl::StatusCode>(code), std::string(message)));
  }
  Renditions out;
  out.width = r.I32();
  out.height = r.I32();
  out.frame_count = r.I32();
  if (!r.ok() || kind != kRenditions) return Malformed("response");
  if (!GetPreview(r, out.thumbnail) || !GetPreview(r, out.display) || !r.done()) {
    return Malformed("previews");
  }
  if (!ValidEdge(out.width) || !ValidEdge(out.height) || out.frame_count < 1) {
    return Malformed("renditions");
  }
  return absl::StatusOr<Renditions>(std::move(out));
}

uint32_t DecodeFrameLength(const char (&prefix)[kFrameLengthBytes]) {
  uint32_t v = 0;
  for (size_t i = 0; i < kFrameLengthBytes; ++i) {
    v |= uint32_t{static_cast<uint8_t>(prefix[i])} << (8 * i);
  }
  return v;
}

namespace {

// Waits until `fd` is ready for `events` or `deadline` passes.
absl::Status Await(int fd, short events, absl::Time deadline) {
  for (;;) {
    int timeout_ms = -1;
    if (deadline != absl::InfiniteFuture()) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return absl::DeadlineExceededError("render worker timed out");
      timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))));
    }
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, timeout_ms);
    if (n > 0) return absl::OkStatus();  // ready, or hung up: the I/O call tells which
    if (n < 0 && errno != EINTR) {
      return absl::UnavailableError(std::string("poll: ") + std::strerror(errno));
    }
  }
}

absl::Status ReadExact(int fd, char* out, size_t size, absl::Time deadline) {
  while (size > 0) {
    const ssize_t n = recv(fd, out, size, MSG_DONTWAIT);
    if (n > 0) {
      out += n;
      size -= static_cast<size_t>(n);
    } else if (n == 0) {
      return absl::UnavailableError("render worker socket closed");
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (absl::Status s = Await(fd, POLLIN, deadline); !s.ok()) return s;
    } else if (errno != EINTR) {
      return absl::UnavailableError(std::string("recv: ") + std::strerror(errno));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadFrame(int fd, absl::Time deadline, uint32_t max_bytes) {
  char prefix[kFrameLengthBytes];
  if (absl::Status s = ReadExact(fd, prefix, sizeof prefix, deadline); !s.ok()) return s;
  const uint32_t size = DecodeFrameLength(prefix);
  if (size > max_bytes) return Malformed("frame too large");
  std::string payload(size, '\0');
  if (absl::Status s = ReadExact(fd, payload.data(), size, deadline); !s.ok()) {
    if (absl::IsUnavailable(s)) return absl::DataLossError("render worker frame cut short");
    return s;
  }
  return payload;
}

absl::Status WriteParts(int fd, std::initializer_list<std::string_view> parts,
                        absl::Time deadline) {
  std::vector<iovec> iov;
  for (std::string_view part : parts) {
    if (!part.empty()) iov.push_back({const_cast<char*>(part.data()), part.size()});
  }
  size_t first = 0;
  while (first < iov.size()) {
    msghdr msg{};
    msg.msg_iov = iov.data() + first;
    msg.msg_iovlen = iov.size() - first;
    const ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (absl::Status s = Await(fd, POLLOUT, deadline); !s.ok()) return s;
        continue;
      }
      if (errno == EINTR) continue;
      return absl::UnavailableError(std::string("sendmsg: ") + std::strerror(errno));
    }
    for (size_t sent = static_cast<size_t>(n); sent > 0;) {
      const size_t take = std::min(sent, iov[first].iov_len);
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + take;
      iov[first].iov_len -= take;
      sent -= take;
      if (iov[first].iov_len == 0) ++first;
    }
  }
  return absl::OkStatus();
}

}  // namespace docshare
