#include "service/common/log.h"

#include <atomic>
#include <cstdio>
#include <sstream>

#include "absl/time/time.h"

namespace docshare {

LogLevel ParseLogLevel(std::string_view name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "warn") return LogLevel::kWarn;
  if (name == "error") return LogLevel::kError;
  return LogLevel::kInfo;
}

namespace {

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

}  // namespace

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

void Logger::Log(LogLevel level, std::string_view event,
                 std::initializer_list<LogField> fields) {
  if (!Enabled(level)) return;
  const absl::Time now = clock_ ? clock_->Now() : absl::Now();
  std::string line =
      "{\"ts\":" +
      JsonString(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", now, absl::UTCTimeZone())) +
      ",\"level\":" + JsonString(LevelName(level)) + ",\"event\":" + JsonString(event);
  for (const LogField& f : fields) {
    line += "," + JsonString(f.key) + ":";
    if (const auto* s = std::get_if<std::string>(&f.value)) {
      line += JsonString(*s);
    } else if (const auto* i = std::get_if<int64_t>(&f.value)) {
      line += std::to_string(*i);
    } else if (const auto* d = std::get_if<double>(&f.value)) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.6g", *d);
      line += buf;
    } else {
      line += std::get<bool>(f.value) ? "true" : "false";
    }
  }
  line += "}\n";
  absl::MutexLock lock(&mu_);
  *out_ << line << std::flush;
}

void LogObserver::ShareRecorded(const ShareRecord& r) {
  auto ms = [](absl::Duration d) { return absl::ToDoubleMilliseconds(d); };
  log_.Log(r.outcome == "accepted" ? LogLevel::kInfo : LogLevel::kWarn, "share",
           {{"session", r.session_id},
            {"document_id", r.document_id},
            {"filename", r.filename},
            {"detected_type", FileTypeLabel(r.type)},
            {"detected_mime", r.mime},
            {"bytes", r.bytes},
            {"outcome", r.outcome},
            {"reason", r.reason == RejectReason::kNone ? std::string_view()
                                                       : RejectReasonLabel(r.reason)},
            {"message", r.message},
            {"sniff_ms", ms(r.sniff)},
            {"guard_ms", ms(r.guard)},
            {"render_ms", ms(r.render)},
            {"publish_ms", ms(r.publish)},
            {"total_ms", ms(r.total)},
            {"cache_hit", r.cache_hit}});
}

// Counted by Metrics; RenderWorkerEnded logs the loss with its details.
void LogObserver::RenderWorkerLost(std::string_view reason) {}

void LogObserver::RenderWorkerEnded(int pid, std::string_view reason,
                                    std::string_view how) {
  log_.Warn("render_worker_lost",
            {{"worker_pid", pid}, {"reason", reason}, {"how", how}});
}

void LogObserver::RenderWorkerOutput(int pid, LogLevel level, std::string_view line,
                                     std::string_view document_id) {
  if (document_id.empty()) {
    log_.Log(level, "render_worker_output", {{"worker_pid", pid}, {"line", line}});
  } else {
    log_.Log(level, "render_worker_output",
             {{"worker_pid", pid}, {"document_id", document_id}, {"line", line}});
  }
}

namespace {

std::atomic<Logger*> process_logger{nullptr};
thread_local std::string log_document;

}  // namespace

void SetProcessLogger(Logger* log) { process_logger.store(log); }

Logger& ProcessLogger() {
  if (Logger* log = process_logger.load()) return *log;
  static Logger* const fallback = new Logger(LogLevel::kInfo, &std::cerr);
  return *fallback;
}

ScopedLogDocument::ScopedLogDocument(std::string document_id)
    : outer_(std::exchange(log_document, std::move(document_id))) {}

ScopedLogDocument::~ScopedLogDocument() { log_document = std::move(outer_); }

const std::string& CurrentLogDocument() { return log_document; }

void LogObserver::SessionExpired(std::string_view session_id) {
  log_.Info("session_expired", {{"session", session_id}});
}

void LogObserver::BackplaneReachable(std::string_view address, bool reachable,
                                     std::string_view why) {
  if (reachable) {
    log_.Info("backplane_connected", {{"address", address}});
  } else {
    log_.Warn("backplane_unreachable", {{"address", address}, {"error", why}});
  }
}

void LogObserver::SessionAnomaly(std::string_view what, std::string_view detail) {
  log_.Log(LogLevel::kError, "session_anomaly", {{"what", what}, {"detail", detail}});
}

}  // namespace docshare
