#ifndef DOCSHARE_PIPELINE_RENDER_WIRE_H_
#define DOCSHARE_PIPELINE_RENDER_WIRE_H_

// The frames between the server and a render worker, over one AF_UNIX stream
// socket: protobuf messages (proto/docshare/internal/render_worker.proto)
// with the raw image bytes after them. Every frame is a 4-byte little-endian
// payload length, then the payload: a 4-byte little-endian header length, a
// ToWorker or FromWorker message, then the raw bytes it announces.
//
//   server -> worker, once:      ToWorker.init
//   worker -> server, once:      FromWorker.ready
//   server -> worker, per share: ToWorker.request, then the upload's bytes
//   worker -> server, per share: FromWorker.renditions, then the previews'
//                                bytes, or FromWorker.failure
//
// A request's image bytes are the rest of its payload, so the server sends
// them straight from the caller's buffer (EncodeRequestHead + the bytes) and
// the worker decodes them in place. Decoders check every length, enum and
// trailing byte: garbage is an error, never a crash or an overread. The
// server trusts nothing a worker says (a worker is where a decoder exploit
// runs): DecodeResponse accepts only what CheckWorkerReply allows.

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

// --render-heap-keep-bytes' bound: glibc's M_TRIM_THRESHOLD is an int.
inline constexpr uint64_t kMaxHeapKeepBytes = 1ull << 30;

struct WorkerInit {
  RenderOptions options;
  uint64_t memory_limit = 0;     // bytes one render may add; 0: no limit
  uint32_t cpu_seconds = 0;      // CPU seconds one render may use; 0: no limit
  uint64_t heap_keep_bytes = 0;  // freed heap kept for the next render; 0: glibc's
};

// Whole frames (length prefix included).
std::string EncodeInit(const WorkerInit& init);
std::string EncodeReady();
// The length prefix and header of a request frame whose payload ends with
// `image_bytes` bytes; the caller sends those bytes right after.
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
// The worker's answer to a request for `header` rendered with `options`. A
// malformed payload, or one CheckWorkerReply refuses, is a DataLossError
// whose message starts with "bad reply"; a well-formed failure is returned
// as the status it encodes (a rejection keeps its reason and gets the
// header's MIME type) inside the outer OK.
absl::StatusOr<absl::StatusOr<Renditions>> DecodeResponse(std::string_view payload,
                                                          const ImageHeader& header,
                                                          const RenderOptions& options);

// The payload length a frame prefix announces.
uint32_t DecodeFrameLength(const char (&prefix)[kFrameLengthBytes]);

// Frame I/O on a stream socket, bounded by `deadline` (absl::InfiniteFuture()
// to wait for ever). Works on blocking and non-blocking sockets alike; never
// raises SIGPIPE. Errors: DEADLINE_EXCEEDED, UNAVAILABLE (the peer closed or
// the socket failed), RESOURCE_EXHAUSTED (a frame over `max_bytes`, refused
// before it is read), DATA_LOSS (a frame cut short).
absl::StatusOr<std::string> ReadFrame(int fd, absl::Time deadline, uint32_t max_bytes);
// Sends `parts` back to back (one frame, or a frame head and its bytes)
// without copying them.
absl::Status WriteParts(int fd, std::initializer_list<std::string_view> parts,
                        absl::Time deadline);

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_RENDER_WIRE_H_
