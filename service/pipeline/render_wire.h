#ifndef DOCSHARE_PIPELINE_RENDER_WIRE_H_
#define DOCSHARE_PIPELINE_RENDER_WIRE_H_

// The frames between the server and a render worker, over one AF_UNIX stream
// socket. Every frame is a 4-byte little-endian payload length, then the
// payload; integers are little-endian, strings are a u32 length then bytes.
//
//   server -> worker, once:     Init    {'I', RenderOptions, memory limit}
//   worker -> server, once:     Ready   {'R'}
//   server -> worker, per share: Request {'Q', ImageHeader, image bytes...}
//   worker -> server, per share: Response{'K', Renditions} or {'E', status}
//
// A Request's image bytes are the rest of its payload, so the server can
// send them straight from the caller's buffer (EncodeRequestHead + the bytes)
// and the worker decodes them in place. Decoders check every length, enum
// and trailing byte: garbage is an error, never a crash or an overread.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/pipeline/guard.h"
#include "service/pipeline/render.h"

namespace docshare {

// Frames larger than these are refused before anything is allocated.
inline constexpr uint32_t kMaxRequestFrameBytes = 1u << 30;
inline constexpr uint32_t kMaxResponseFrameBytes = 256u << 20;
inline constexpr size_t kFrameLengthBytes = 4;

struct WorkerInit {
  RenderOptions options;
  uint64_t memory_limit = 0;  // bytes one render may add; 0: no limit
};

// Whole frames (length prefix included).
std::string EncodeInit(const WorkerInit& init);
std::string EncodeReady();
// The length prefix and fixed part of a Request frame whose payload ends
// with `image_bytes` bytes; the caller sends those bytes right after.
std::string EncodeRequestHead(const ImageHeader& header, size_t image_bytes);
std::string EncodeResponse(const absl::StatusOr<Renditions>& result);

// Payloads (the frame without its length prefix).
absl::StatusOr<WorkerInit> DecodeInit(std::string_view payload);
absl::Status DecodeReady(std::string_view payload);
struct RenderRequest {
  ImageHeader header;
  std::string_view bytes;  // points into the payload
};
absl::StatusOr<RenderRequest> DecodeRequest(std::string_view payload);
// The worker's answer. A malformed payload is a DataLossError; a well-formed
// error answer is returned as the status it encodes (a rejection keeps its
// reason and detected MIME type) inside the outer OK.
absl::StatusOr<absl::StatusOr<Renditions>> DecodeResponse(std::string_view payload);

// The payload length a frame prefix announces.
uint32_t DecodeFrameLength(const char (&prefix)[kFrameLengthBytes]);

// Frame I/O on a stream socket, bounded by `deadline` (absl::InfiniteFuture()
// to wait for ever). Works on blocking and non-blocking sockets alike; never
// raises SIGPIPE. Errors: DEADLINE_EXCEEDED, UNAVAILABLE (the peer closed or
// the socket failed), DATA_LOSS (a frame over `max_bytes`, or cut short).
absl::StatusOr<std::string> ReadFrame(int fd, absl::Time deadline, uint32_t max_bytes);
// Sends `parts` back to back (one frame, or a frame head and its bytes)
// without copying them.
absl::Status WriteParts(int fd, std::initializer_list<std::string_view> parts,
                        absl::Time deadline);

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_RENDER_WIRE_H_
