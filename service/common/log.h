#ifndef DOCSHARE_COMMON_LOG_H_
#define DOCSHARE_COMMON_LOG_H_

// JSON lines on stdout: one object per line, written whole. Never pass a
// token or image bytes to it.

#include <cstdint>
#include <initializer_list>
#include <iostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "service/common/clock.h"
#include "service/common/observer.h"

namespace docshare {

// "debug", "info", "warn", "error"; anything else reads as info.
LogLevel ParseLogLevel(std::string_view name);

struct LogField {
  using Value = std::variant<std::string, int64_t, double, bool>;
  LogField(std::string k, std::string v) : key(std::move(k)), value(std::move(v)) {}
  LogField(std::string k, const char* v) : key(std::move(k)), value(std::string(v)) {}
  LogField(std::string k, std::string_view v)
      : key(std::move(k)), value(std::string(v)) {}
  LogField(std::string k, int64_t v) : key(std::move(k)), value(v) {}
  LogField(std::string k, int v) : key(std::move(k)), value(int64_t{v}) {}
  LogField(std::string k, uint64_t v)
      : key(std::move(k)), value(static_cast<int64_t>(v)) {}
  LogField(std::string k, uint32_t v) : key(std::move(k)), value(int64_t{v}) {}
  LogField(std::string k, double v) : key(std::move(k)), value(v) {}
  LogField(std::string k, bool v) : key(std::move(k)), value(v) {}
  std::string key;
  Value value;
};

class Logger {
 public:
  explicit Logger(LogLevel level = LogLevel::kInfo, std::ostream* out = &std::cout,
                  const Clock* clock = nullptr)
      : level_(level), out_(out), clock_(clock) {}

  // {"ts":"...","level":"info","event":"<event>", fields...}
  void Log(LogLevel level, std::string_view event,
           std::initializer_list<LogField> fields);
  void Info(std::string_view event, std::initializer_list<LogField> fields = {}) {
    Log(LogLevel::kInfo, event, fields);
  }
  void Warn(std::string_view event, std::initializer_list<LogField> fields = {}) {
    Log(LogLevel::kWarn, event, fields);
  }
  bool Enabled(LogLevel level) const { return level >= level_; }

 private:
  const LogLevel level_;
  absl::Mutex mu_;  // one line at a time
  std::ostream* const out_ ABSL_PT_GUARDED_BY(mu_);
  const Clock* clock_;
};

// JSON string escaping (quotes included).
std::string JsonString(std::string_view s);

// The process' logger, for what cannot be handed one through a constructor:
// GLib's log handler (libvips' VIPS-WARNING lines), a libmagic cookie that
// fails to load on some thread, a libvips exception text. main() (and the
// render worker) set it once at start-up, before any other thread runs;
// until then it is JSON on stderr at info.
void SetProcessLogger(Logger* log);
Logger& ProcessLogger();

// The document this thread works on, for log lines that cannot know it
// (GLib's handler; a render worker's output). Nested scopes restore the
// outer one.
class ScopedLogDocument {
 public:
  explicit ScopedLogDocument(std::string document_id);
  ~ScopedLogDocument();
  ScopedLogDocument(const ScopedLogDocument&) = delete;
  ScopedLogDocument& operator=(const ScopedLogDocument&) = delete;

 private:
  std::string outer_;
};
// Empty outside any ScopedLogDocument.
const std::string& CurrentLogDocument();

// Logs what the domain reports that a platform team wants to read: one line
// per share, one per expired session.
class LogObserver final : public Observer {
 public:
  explicit LogObserver(Logger& log) : log_(log) {}
  void ShareRecorded(const ShareRecord& record) override;
  void SessionExpired(std::string_view session_id) override;
  void RenderWorkerLost(std::string_view reason) override;
  void RenderWorkerEnded(int pid, std::string_view reason, std::string_view how) override;
  void RenderWorkerOutput(int pid, LogLevel level, std::string_view line,
                          std::string_view document_id) override;
  void BackplaneReachable(std::string_view address, bool reachable,
                          std::string_view why) override;
  void SessionAnomaly(std::string_view what, std::string_view detail) override;

 private:
  Logger& log_;
};

}  // namespace docshare

#endif  // DOCSHARE_COMMON_LOG_H_
