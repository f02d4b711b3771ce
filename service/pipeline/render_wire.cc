#include "service/pipeline/render_wire.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "docshare/internal/render_worker.pb.h"
#include "service/common/reject.h"
#include "service/pipeline/render.h"
#include "service/pipeline/sha256.h"
#include "service/pipeline/worker_reply.h"

namespace docshare {
namespace {

namespace wire = ::docshare::internal;

// Header messages are small; anything larger is garbage.
constexpr uint32_t kMaxHeaderBytes = 64 * 1024;

void PutLe32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

uint32_t Le32(std::string_view b) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(b[i])} << (8 * i);
  return v;
}

// The frame prefix, the header length and the header; `tail` raw bytes
// belong to the frame and follow.
std::string FrameHead(const google::protobuf::MessageLite& header, size_t tail) {
  const std::string encoded = header.SerializeAsString();
  std::string out;
  out.reserve(8 + encoded.size());
  PutLe32(out, static_cast<uint32_t>(4 + encoded.size() + tail));
  PutLe32(out, static_cast<uint32_t>(encoded.size()));
  return out + encoded;
}

absl::Status Malformed(std::string_view what) {
  return absl::DataLossError(
      absl::StrCat("malformed render worker frame: ", std::string(what)));
}

// Splits a payload into its header message and the raw bytes after it.
template <typename Message>
absl::StatusOr<std::string_view> ParseHead(std::string_view payload, Message& header) {
  if (payload.size() < 4) return Malformed("no header length");
  const uint32_t size = Le32(payload);
  payload.remove_prefix(4);
  if (size > kMaxHeaderBytes || size > payload.size()) {
    return Malformed("a header longer than its frame");
  }
  if (!header.ParseFromArray(payload.data(), static_cast<int>(size))) {
    return Malformed("an unparsable header");
  }
  return payload.substr(size);
}

// A size an image or preview can have (libvips' own limit is 10M per edge).
bool ValidEdge(int v) { return v >= 0 && v <= 10'000'000; }

wire::ImageType ToWire(FileType t) { return static_cast<wire::ImageType>(t); }
wire::PreviewFormat ToWire(PreviewFormat f) {
  return static_cast<wire::PreviewFormat>(static_cast<int>(f) + 1);
}
wire::Rendition ToWire(Rendition r) {
  return static_cast<wire::Rendition>(static_cast<int>(r) + 1);
}

std::optional<FileType> FromWire(wire::ImageType t) {
  if (t < wire::IMAGE_TYPE_JPEG || t > wire::IMAGE_TYPE_GIF) return std::nullopt;
  return static_cast<FileType>(t);
}
std::optional<PreviewFormat> FromWire(wire::PreviewFormat f) {
  if (f < wire::PREVIEW_FORMAT_WEBP || f > wire::PREVIEW_FORMAT_GIF) return std::nullopt;
  return static_cast<PreviewFormat>(static_cast<int>(f) - 1);
}
std::optional<Rendition> FromWire(wire::Rendition r) {
  if (r < wire::RENDITION_THUMBNAIL || r > wire::RENDITION_DISPLAY) return std::nullopt;
  return static_cast<Rendition>(static_cast<int>(r) - 1);
}

void PutPreview(const Preview& p, wire::Preview& out) {
  out.set_rendition(ToWire(p.rendition));
  out.set_mime_type(p.mime_type);
  out.set_width(p.width);
  out.set_height(p.height);
  out.set_data_bytes(p.data ? p.data->size() : 0);
}

// Takes the preview's bytes off the front of `tail`.
absl::StatusOr<Preview> GetPreview(const wire::Preview& in, std::string_view& tail) {
  const std::optional<Rendition> rendition = FromWire(in.rendition());
  if (!rendition || !ValidEdge(in.width()) || !ValidEdge(in.height())) {
    return Malformed("preview fields out of range");
  }
  if (in.data_bytes() > tail.size()) return Malformed("preview bytes cut short");
  Preview p;
  p.rendition = *rendition;
  p.mime_type = in.mime_type();
  p.width = in.width();
  p.height = in.height();
  p.data = std::make_shared<const std::string>(tail.substr(0, in.data_bytes()));
  tail.remove_prefix(in.data_bytes());
  // Computed here, never taken from the worker: the ETag and the digest
  // clients check must be of the bytes the server holds.
  p.sha256 = Sha256Hex(*p.data);
  return p;
}

}  // namespace

std::string EncodeInit(const WorkerInit& init) {
  wire::ToWorker message;
  wire::WorkerInit& out = *message.mutable_init();
  out.set_display_size(init.options.display_size);
  out.set_thumbnail_size(init.options.thumbnail_size);
  out.set_format(ToWire(init.options.format));
  out.set_quality(init.options.quality);
  out.set_webp_effort(init.options.webp_effort);
  out.set_memory_limit(init.memory_limit);
  out.set_cpu_seconds(init.cpu_seconds);
  out.set_max_preview_bytes(init.options.max_preview_bytes);
  out.set_heap_keep_bytes(init.heap_keep_bytes);
  return FrameHead(message, 0);
}

absl::StatusOr<WorkerInit> DecodeInit(std::string_view payload) {
  wire::ToWorker message;
  absl::StatusOr<std::string_view> tail = ParseHead(payload, message);
  if (!tail.ok()) return tail.status();
  if (!tail->empty() || !message.has_init()) return Malformed("not an init");
  const wire::WorkerInit& in = message.init();
  const std::optional<PreviewFormat> format = FromWire(in.format());
  if (!format || !ValidEdge(in.display_size()) || !ValidEdge(in.thumbnail_size()) ||
      in.max_preview_bytes() > kEventPreviewBudget ||
      in.heap_keep_bytes() > kMaxHeapKeepBytes) {
    return Malformed("init options out of range");
  }
  WorkerInit init;
  init.options.display_size = in.display_size();
  init.options.thumbnail_size = in.thumbnail_size();
  init.options.format = *format;
  init.options.quality = in.quality();
  init.options.webp_effort = in.webp_effort();
  init.options.max_preview_bytes = in.max_preview_bytes();
  init.memory_limit = in.memory_limit();
  init.cpu_seconds = in.cpu_seconds();
  init.heap_keep_bytes = in.heap_keep_bytes();
  return init;
}

std::string EncodeReady() {
  wire::FromWorker message;
  message.mutable_ready();
  return FrameHead(message, 0);
}

absl::Status DecodeReady(std::string_view payload) {
  wire::FromWorker message;
  absl::StatusOr<std::string_view> tail = ParseHead(payload, message);
  if (!tail.ok()) return tail.status();
  if (!tail->empty() || !message.has_ready()) return Malformed("not a ready");
  return absl::OkStatus();
}

std::string EncodeRequestHead(const ImageHeader& header, size_t image_bytes) {
  wire::ToWorker message;
  wire::RenderRequest& out = *message.mutable_request();
  out.set_type(ToWire(header.type));
  out.set_width(header.width);
  out.set_height(header.height);
  out.set_frame_count(header.frame_count);
  out.set_bytes(header.bytes);
  out.set_image_bytes(image_bytes);
  return FrameHead(message, image_bytes);
}

absl::StatusOr<RenderRequest> DecodeRequest(std::string_view payload) {
  wire::ToWorker message;
  absl::StatusOr<std::string_view> tail = ParseHead(payload, message);
  if (!tail.ok()) return tail.status();
  if (!message.has_request()) return Malformed("not a request");
  const wire::RenderRequest& in = message.request();
  const std::optional<FileType> type = FromWire(in.type());
  if (!type || !ValidEdge(in.width()) || !ValidEdge(in.height()) ||
      in.frame_count() < 1 || in.image_bytes() != tail->size()) {
    return Malformed("request header out of range");
  }
  RenderRequest request;
  request.header = {*type, in.width(), in.height(), in.frame_count(), in.bytes()};
  request.bytes = *tail;
  return request;
}

std::string EncodeResponse(const absl::StatusOr<Renditions>& result) {
  wire::FromWorker message;
  if (!result.ok()) {
    const absl::Status& s = result.status();
    wire::Failure& out = *message.mutable_failure();
    out.set_code(static_cast<int>(s.code()));
    out.set_reason(static_cast<wire::RejectReason>(GetRejectReason(s)));
    out.set_detected_mime(std::string(GetDetectedMime(s)));
    out.set_message(std::string(s.message()));
    return FrameHead(message, 0);
  }
  wire::Renditions& out = *message.mutable_renditions();
  out.set_width(result->width);
  out.set_height(result->height);
  out.set_frame_count(result->frame_count);
  PutPreview(result->thumbnail, *out.mutable_thumbnail());
  PutPreview(result->display, *out.mutable_display());
  size_t tail = 0;
  for (const Preview* p : {&result->thumbnail, &result->display}) {
    tail += p->data ? p->data->size() : 0;
  }
  std::string frame = FrameHead(message, tail);
  frame.reserve(frame.size() + tail);
  for (const Preview* p : {&result->thumbnail, &result->display}) {
    if (p->data) frame += *p->data;
  }
  return frame;
}

absl::StatusOr<absl::StatusOr<Renditions>> DecodeResponse(std::string_view payload,
                                                          const ImageHeader& header,
                                                          const RenderOptions& options) {
  wire::FromWorker message;
  absl::StatusOr<std::string_view> tail = ParseHead(payload, message);
  if (!tail.ok()) return tail.status();
  if (message.has_failure()) {
    if (!tail->empty()) return Malformed("bytes after a failure");
    const wire::Failure& in = message.failure();
    if (in.reason() < wire::REJECT_REASON_UNSPECIFIED ||
        in.reason() > wire::REJECT_REASON_CORRUPT_IMAGE) {
      return Malformed("an unknown reject reason");
    }
    absl::Status failure;
    if (absl::Status s =
            CheckWorkerFailure(in.code(), static_cast<RejectReason>(in.reason()),
                               in.detected_mime(), in.message(), header, failure);
        !s.ok()) {
      return s;
    }
    return absl::StatusOr<Renditions>(std::move(failure));
  }
  if (!message.has_renditions()) return Malformed("neither renditions nor a failure");
  const wire::Renditions& in = message.renditions();
  Renditions out;
  out.width = in.width();
  out.height = in.height();
  out.frame_count = in.frame_count();
  std::string_view rest = *tail;
  absl::StatusOr<Preview> thumbnail = GetPreview(in.thumbnail(), rest);
  if (!thumbnail.ok()) return thumbnail.status();
  absl::StatusOr<Preview> display = GetPreview(in.display(), rest);
  if (!display.ok()) return display.status();
  if (!rest.empty()) return Malformed("bytes after the previews");
  out.thumbnail = *std::move(thumbnail);
  out.display = *std::move(display);
  if (absl::Status s = CheckWorkerRenditions(out, header, options); !s.ok()) return s;
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
      if (left <= absl::ZeroDuration())
        return absl::DeadlineExceededError("render worker timed out");
      timeout_ms = static_cast<int>(
          absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))));
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
  if (size > max_bytes) {
    return absl::ResourceExhaustedError("render worker frame over the size limit");
  }
  std::string payload(size, '\0');
  if (absl::Status s = ReadExact(fd, payload.data(), size, deadline); !s.ok()) {
    if (absl::IsUnavailable(s))
      return absl::DataLossError("render worker frame cut short");
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
