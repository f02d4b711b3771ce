#ifndef DOCSHARE_CONFIG_CONFIG_H_
#define DOCSHARE_CONFIG_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace docshare {

// Every option of the server, with its default inline. Each is a flag
// `--kebab-case` and an environment variable `DOCSHARE_UPPER_SNAKE`; the flag
// wins. Defaults run a complete single-process service.
struct Config {
  std::string grpc_address = "0.0.0.0:50051";
  std::string metrics_address = "0.0.0.0:9464";
  std::string admin_token;   // empty: random, printed once at start-up
  std::string token_secret;  // empty: random per process
  uint64_t max_file_bytes = 33554432;
  uint64_t max_pixels = 50000000;
  int64_t max_frames = 300;
  uint64_t max_animation_pixels = 200000000;
  int64_t display_size = 1600;
  int64_t thumbnail_size = 256;
  std::string preview_format = "webp";
  int64_t preview_quality = 80;
  int64_t webp_effort = 2;
  int64_t session_ttl = 7200;  // seconds
  std::string backplane = "memory";
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  std::string log_level = "info";
  int64_t drain_timeout = 20;          // seconds
  int64_t render_workers = 0;          // 0: one per core
  int64_t render_queue = 16;           // shares waiting for a worker
  int64_t render_timeout = 10;         // seconds
  uint64_t render_memory_limit = 1073741824;
  std::string render_isolation = "process";  // or "thread" (in the server's process)
  int64_t watcher_queue = 64;          // live events a watcher may lag
  int64_t max_session_documents = 200;
  uint64_t max_session_bytes = 536870912;
  uint64_t max_retained_bytes = 1073741824;
  uint64_t preview_cache_bytes = 67108864;  // 64 MiB: ~1,400 typical shares
  int64_t upload_timeout = 60;         // seconds an upload may take in all
  int64_t max_concurrent_streams = 100;  // per HTTP/2 connection

  // Names the first bad option and why.
  absl::Status Validate() const;
  // "name=value" lines for the start-up log, secrets masked.
  std::map<std::string, std::string> Effective() const;
};

// Reads `env` (DOCSHARE_*) then `args` (flags, without argv[0]) over the
// defaults. Unknown flags and unparsable values are errors that name the
// option. `--help` yields a NOT_FOUND status whose message is the usage.
absl::StatusOr<Config> LoadConfig(const std::vector<std::string>& args,
                                  const std::map<std::string, std::string>& env);

// The process environment's DOCSHARE_* variables.
std::map<std::string, std::string> DocshareEnvironment();

}  // namespace docshare

#endif  // DOCSHARE_CONFIG_CONFIG_H_
