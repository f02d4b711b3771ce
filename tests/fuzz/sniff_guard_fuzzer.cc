// Sniff on the head, then Guard with the default limits: the two stages that
// read every upload's untrusted bytes before libvips does. Any input must get
// a verdict, without a crash, a hang or a large allocation.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "service/pipeline/guard.h"
#include "service/pipeline/sniff.h"
#include "service/pipeline/upload_buffer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<docshare::SniffResult> sniffed =
      docshare::Sniff(bytes.substr(0, docshare::UploadBuffer::kHeadBytes));
  if (!sniffed.ok()) return 0;
  (void)docshare::Guard(bytes, sniffed->type, docshare::Limits{});
  return 0;
}
