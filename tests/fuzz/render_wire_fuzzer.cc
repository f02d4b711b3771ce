// The parent side of the render worker wire: whatever a (compromised) worker
// sends, DecodeResponse returns renditions that passed CheckWorkerRenditions,
// a failure from the table, or DATA_LOSS; never a crash, an overread or a
// status that could break a gRPC trailer.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "service/common/reject.h"
#include "service/pipeline/render_wire.h"

namespace {

const docshare::ImageHeader kHeader{docshare::FileType::kJpeg, 40, 30, 1, 1000};

bool Printable(std::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view payload(reinterpret_cast<const char*>(data), size);
  (void)docshare::DecodeReady(payload);
  const absl::StatusOr<absl::StatusOr<docshare::Renditions>> reply =
      docshare::DecodeResponse(payload, kHeader, docshare::RenderOptions{});
  if (!reply.ok()) {
    if (!absl::IsDataLoss(reply.status())) std::abort();
    return 0;
  }
  if (reply->ok()) return 0;
  // A failure let through: its text and MIME go into gRPC metadata.
  const absl::Status& failure = reply->status();
  if (!Printable(std::string(failure.message())) ||
      !Printable(std::string(docshare::GetDetectedMime(failure)))) {
    std::fprintf(stderr, "unprintable failure let through\n");
    std::abort();
  }
  return 0;
}
