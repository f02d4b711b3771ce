#ifndef DOCSHARE_CONFIG_CONFIG_H_
#define DOCSHARE_CONFIG_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/common/log.h"
#include "service/pipeline/preview_cache.h"
#include "service/pipeline/render.h"

namespace docshare {

// --backplane=memory: one replica, everything in this process.
struct MemoryBackplaneConfig {
  bool operator==(const MemoryBackplaneConfig&) const = default;
};

// --backplane=redis[s]://[[user]:password@]host[:port][/db].
struct RedisBackplaneConfig {
  std::string host;  // a name, an IPv4 address, or an IPv6 one without brackets
  int port = 6379;
  int db = 0;
  bool tls = false;      // rediss:// (needs hiredis with TLS: Debian 13)
  std::string username;  // AUTH from the URL; --redis-password-file otherwise
  std::string password;
  bool operator==(const RedisBackplaneConfig&) const = default;
};

using BackplaneConfig = std::variant<MemoryBackplaneConfig, RedisBackplaneConfig>;

// "memory" or a redis:// URL, parsed fully. The error says what is wrong
// as a predicate of the text ("has no host"), for the caller to prefix.
absl::StatusOr<BackplaneConfig> ParseBackplane(absl::string_view text);
// The inverse of ParseBackplane (for the start-up log and --help).
std::string BackplaneUrl(const BackplaneConfig& backplane);

enum class RenderIsolation {
  kProcess,  // decode in docshare-render-worker processes
  kThread,   // decode in the server's own process
};

// Every option of the server, typed and with its default inline. Each is a
// flag `--kebab-case` and an environment variable `DOCSHARE_UPPER_SNAKE`; the
// flag wins. Defaults run a complete single-process service. A new option is
// a member here and one line in config.cc's Options().
struct Config {
  // What one upload may be, checked before a pixel is decoded.
  struct Limits {
    uint64_t max_file_bytes = 33554432;
    uint64_t max_pixels = 50000000;  // one frame
    int max_frames = 300;
    uint64_t max_animation_pixels = 200000000;  // all frames
  };
  // How renders run.
  struct Isolation {
    RenderIsolation mode = RenderIsolation::kProcess;
    int workers = 0;  // 0: one per usable CPU (affinity, cgroup quota)
    int queue = 16;   // shares waiting for a worker
    absl::Duration timeout = absl::Seconds(10);
    uint64_t memory_limit = 1073741824;   // bytes one render may use
    uint64_t heap_keep_bytes = 67108864;  // freed heap a worker keeps; 0: glibc's
    // Not an option: empty is docshare-render-worker beside the server's
    // binary; tests set another worker (tests/isolation/worker).
    std::string worker_path;
  };
  // What sessions may hold (memory protection).
  struct SessionCaps {
    int max_documents = 200;
    uint64_t max_session_bytes = 536870912;
    uint64_t max_retained_bytes = 1073741824;
    // Redis: decoded replays this replica keeps for its watchers.
    uint64_t replay_cache_bytes = 67108864;
  };

  std::string grpc_address = "0.0.0.0:50051";
  // "[::]:P" is dual-stack (IPv4 only on a machine without IPv6).
  std::string metrics_address = "[::]:9464";
  std::string admin_token;   // empty: random, printed once at start-up
  std::string token_secret;  // empty: random per process; "current,previous,..."
  // Files holding them (LoadConfig reads them into the two above): a secret
  // on a command line shows in /proc/<pid>/cmdline.
  std::string admin_token_file;
  std::string token_secret_file;  // one secret a line, the current one first
  Limits limits;
  RenderOptions render;  // display-size, thumbnail-size, preview-format, ...
  Isolation isolation;
  SessionCaps session_caps;
  absl::Duration session_ttl = absl::Hours(2);
  BackplaneConfig backplane = MemoryBackplaneConfig{};
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  // Redis: TLS files (rediss:// only) and AUTH's password, read from a file.
  std::string redis_ca;
  std::string redis_cert;
  std::string redis_key;
  std::string redis_password_file;
  // Redis: the store's own threads, on which every session call waits for
  // Redis (never a gRPC callback thread or the HTTP loop), and how many calls
  // may wait for one before RESOURCE_EXHAUSTED / 503.
  int redis_call_threads = 8;
  int redis_call_queue = 4096;
  LogLevel log_level = LogLevel::kInfo;
  absl::Duration drain_timeout = absl::Seconds(20);
  int watcher_queue = 64;                                 // live events a watcher may lag
  uint64_t preview_cache_bytes = 67108864;                // 64 MiB: ~1,400 typical shares
  CacheScope preview_cache_scope = CacheScope::kSession;  // issue 12, attack 7
  absl::Duration upload_timeout = absl::Seconds(60);      // one upload in all
  int max_concurrent_streams = 100;                       // per HTTP/2 connection
  // Admission (issue 12): budgets and caps checked before a call costs
  // anything; 0 turns one off.
  uint64_t max_inflight_upload_bytes = 268435456;  // upload bytes held, all shares
  int max_session_renders = 4;      // shares of one session rendering or waiting
  int max_session_watchers = 1000;  // watch streams of one session (per replica)
  int max_token_watchers = 32;      // watch streams of one participant token
  int token_check_file_rate = 50;   // CheckFile calls per second per token
  int token_share_rate = 2;         // ShareDocument calls per second per token
  // Bytes gRPC may allocate for its connections and calls (a
  // grpc::ResourceQuota): bounds what HTTP/2 floods can take (README).
  uint64_t grpc_memory_limit = 536870912;
  // Plaintext gRPC: client connections are accepted by the HTTP/2 frame
  // guard (transport/h2_guard.h), which closes one that floods gRPC 1.51
  // with what it does not bound itself; 0 turns a limit off.
  bool http2_guard = true;                   // false: gRPC listens itself, unguarded
  int http2_max_header_block_bytes = 65536;  // HEADERS + CONTINUATION of one block
  int http2_max_resets_per_second = 200;     // RST_STREAM frames from one client
  // The browsers' listener (service/http): "off" disables it.
  std::string http_address = "0.0.0.0:8080";
  std::string cors_origins;  // comma-separated origins; empty: none
  bool demo = false;         // serve web/demo.html at /demo
  std::string public_url;    // empty: preview URLs are paths from "/"
  absl::Duration preview_url_ttl = absl::Seconds(600);  // a signed preview URL at most

  // Names the first bad option and why (ranges and options that go together;
  // every value is already parsed into its type).
  absl::Status Validate() const;
  // --token-secret split: the current secret first, then previous ones.
  std::vector<std::string> TokenSecrets() const;
  // "name=value" lines for the start-up log, secrets masked.
  std::map<std::string, std::string> Effective() const;
};

// Reads `env` (DOCSHARE_*) then `args` (flags, without argv[0]) over the
// defaults, parsing each value fully. Unknown flags and unparsable values are
// INVALID_ARGUMENT naming the option. `--help` yields a NOT_FOUND status whose
// message is the usage.
absl::StatusOr<Config> LoadConfig(const std::vector<std::string>& args,
                                  const std::map<std::string, std::string>& env);

// --cors-origins as a list ("https://a.example, http://localhost:3000"):
// each an origin (http or https, host, optional port, nothing else).
absl::StatusOr<std::vector<std::string>> ParseOrigins(std::string_view list);

// The process environment's DOCSHARE_* variables.
std::map<std::string, std::string> DocshareEnvironment();

// "host:port" with a port number 0-65535 ("[v6]:port" too); "unix:" paths
// pass. The error says what is wrong, without the option's name.
absl::Status CheckListenAddress(absl::string_view address);

}  // namespace docshare

#endif  // DOCSHARE_CONFIG_CONFIG_H_
