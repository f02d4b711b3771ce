#ifndef DOCSHARE_PIPELINE_VIPS_BOUNDARY_H_
#define DOCSHARE_PIPELINE_VIPS_BOUNDARY_H_

// The one place libvips is started and its exceptions are caught.

#include <vips/vips.h>

#include <functional>
#include <memory>
#include <string_view>

#include "absl/status/status.h"

namespace docshare {

// Starts libvips once per process: blocks every loader but jpegload_buffer,
// pngload_buffer and gifload_buffer (vips_block_untrusted_set,
// vips_operation_block_set), sets libvips' concurrency to 1, disables its
// operation cache.
absl::Status InitVips(const char* argv0);

// Sends GLib's log (libvips' VIPS-WARNING lines, GLib-CRITICAL, and the
// libvips exception texts CallVips logs) to ProcessLogger() as JSON: warnings
// and worse at warn, the rest at debug, with the document id of the share
// the thread renders (ScopedLogDocument). For the server's main; a render
// worker routes them to its stderr instead (render_worker.h).
void RouteGLibLog();

// Runs `fn`, turning a vips::VError into CORRUPT_IMAGE with a public message
// (the libvips text goes to the log only) and any other exception into
// INTERNAL; the libvips text goes to GLib's log. `detected_mime` goes into the rejection
// (docshare-detected-mime).
absl::Status CallVips(const std::function<absl::Status()>& fn,
                      std::string_view detected_mime = "");

struct BlobUnref {
  void operator()(VipsBlob* blob) const { vips_area_unref(VIPS_AREA(blob)); }
};
using BlobPtr = std::unique_ptr<VipsBlob, BlobUnref>;

// A VipsBlob over `bytes` (no copy). It must outlive every image loaded from
// it, until the last save has pulled every pixel: declare it before them.
inline BlobPtr BlobOver(std::string_view bytes) {
  return BlobPtr(vips_blob_new(nullptr, bytes.data(), bytes.size()));
}

}  // namespace docshare

#endif  // DOCSHARE_PIPELINE_VIPS_BOUNDARY_H_
