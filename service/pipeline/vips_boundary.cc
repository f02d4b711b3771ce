#include "service/pipeline/vips_boundary.h"

#include <exception>
#include <mutex>
#include <new>
#include <string>
#include <vips/vips8>

#include "service/common/log.h"
#include "service/common/reject.h"
#include "service/common/types.h"

namespace docshare {
namespace {

// The loaders the service uses; every other loader stays blocked. These are
// the class names in libvips 8.14 (`vips -l | grep load`): GIF is libnsgif's
// loader, PNG is libpng's (this build has no libspng).
constexpr const char* kAllowedLoaders[] = {
    "VipsForeignLoadJpegBuffer",
    "VipsForeignLoadPngBuffer",
    "VipsForeignLoadNsgifBuffer",
};

// libvips' messages span lines; the log gets one.
std::string OneLine(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

absl::Status Start(const char* argv0) {
  if (VIPS_INIT(argv0 != nullptr ? argv0 : "docshare") != 0) {
    const std::string error = OneLine(vips_error_buffer());
    vips_error_clear();
    return absl::InternalError("libvips did not start: " + error);
  }
  // An error in one of libvips' own worker threads was seen not to reach the
  // caller: one thread per pipeline; parallelism comes from the render pool.
  vips_concurrency_set(1);
  // Uploads are decoded once; a cache would only hold memory (and keys on
  // buffer addresses that get reused).
  vips_cache_set_max(0);
  vips_cache_set_max_mem(0);
  vips_block_untrusted_set(TRUE);
  vips_operation_block_set("VipsForeignLoad", TRUE);
  for (const char* loader : kAllowedLoaders) vips_operation_block_set(loader, FALSE);
  return absl::OkStatus();
}

}  // namespace

absl::Status InitVips(const char* argv0) {
  static std::once_flag once;
  static absl::Status status;
  std::call_once(once, [argv0] { status = Start(argv0); });
  return status;
}

namespace {

void LogToProcessLogger(const gchar* domain, GLogLevelFlags flags, const gchar* message,
                        gpointer) {
  // GLib's warnings and worse (VIPS-WARNING "not enough data", a libvips
  // exception) are warnings of ours; its messages, info and debug are debug.
  const bool warning =
      (flags & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)) != 0;
  const std::string text = OneLine(message != nullptr ? message : "");
  Logger& log = ProcessLogger();
  const LogLevel level = warning ? LogLevel::kWarn : LogLevel::kDebug;
  const std::string_view from = domain != nullptr ? domain : "GLib";
  if (const std::string& document = CurrentLogDocument(); !document.empty()) {
    log.Log(level, "glib",
            {{"domain", from}, {"message", text}, {"document_id", document}});
  } else {
    log.Log(level, "glib", {{"domain", from}, {"message", text}});
  }
}

}  // namespace

void RouteGLibLog() { g_log_set_default_handler(LogToProcessLogger, nullptr); }

absl::Status CallVips(const std::function<absl::Status()>& fn,
                      std::string_view detected_mime) {
  try {
    return fn();
  } catch (const vips::VError& e) {
    // Through GLib's log like libvips' own warnings: the process' handler
    // makes it a JSON line (the server's, RouteGLibLog; a worker's, its
    // stderr to the server).
    g_log("docshare", G_LOG_LEVEL_WARNING, "libvips: %s", OneLine(e.what()).c_str());
    vips_error_clear();
    return Reject(RejectReason::kCorruptImage, detected_mime,
                  "the image could not be decoded");
  } catch (const std::bad_alloc&) {
    return absl::InternalError("out of memory while rendering");
  } catch (const std::exception& e) {
    return absl::InternalError(std::string("rendering failed: ") + e.what());
  } catch (...) {
    return absl::InternalError("rendering failed with an unknown exception");
  }
}

}  // namespace docshare
