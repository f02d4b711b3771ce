#include "service/config/config.h"

#include <charconv>
#include <fstream>
#include <limits>
#include <span>
#include <type_traits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "service/common/build_features.h"
#include "service/pipeline/render_wire.h"

extern char** environ;

namespace docshare {
namespace {

// Where an option's parsed value goes: one alternative per value type.
using Target =
    std::variant<std::string*, uint64_t*, int*, bool*, absl::Duration*, PreviewFormat*,
                 LogLevel*, RenderIsolation*, CacheScope*, BackplaneConfig*>;

struct Option {
  const char* flag;  // kebab-case, without "--"
  Target target;
  const char* help;
  bool secret = false;
};

// The one table of options: adding one is a line here.
std::vector<Option> Options(Config& c) {
  return {
      {"grpc-address", &c.grpc_address, "host:port of the gRPC server"},
      {"metrics-address", &c.metrics_address,
       "host:port serving /metrics, /healthz, /readyz ([::]:P is IPv4 and IPv6)"},
      {"admin-token", &c.admin_token,
       "token for StartSession/EndSession, at least 32 bytes (a generated one is "
       "printed once)",
       true},
      {"token-secret", &c.token_secret,
       "HMAC secret of participant tokens, at least 32 bytes; \"current,previous,...\" "
       "verifies tokens of previous secrets too (a generated one lasts the process)",
       true},
      {"admin-token-file", &c.admin_token_file,
       "file holding --admin-token (kept off the command line)"},
      {"token-secret-file", &c.token_secret_file,
       "file holding --token-secret: one secret a line, the current one first"},
      {"max-file-bytes", &c.limits.max_file_bytes, "largest upload accepted"},
      {"max-pixels", &c.limits.max_pixels, "largest width x height of one frame"},
      {"max-frames", &c.limits.max_frames, "most frames of an animation"},
      {"max-animation-pixels", &c.limits.max_animation_pixels,
       "most pixels over all frames of an animation"},
      {"display-size", &c.render.display_size, "longest edge of the display preview"},
      {"thumbnail-size", &c.render.thumbnail_size, "longest edge of the thumbnail"},
      {"preview-format", &c.render.format, "webp, jpeg, png or gif"},
      {"preview-quality", &c.render.quality, "encoder quality 1-100"},
      {"webp-effort", &c.render.webp_effort, "libwebp effort 0-6"},
      {"max-preview-bytes", &c.render.max_preview_bytes,
       "largest encoded preview; a bigger one is re-encoded smaller (65536-3145728)"},
      {"session-ttl", &c.session_ttl,
       "seconds a session lives when StartSession asks for 0"},
      {"backplane", &c.backplane,
       "memory, or redis[s]://[[user]:password@]host[:port][/db]"},
      {"redis-ca", &c.redis_ca,
       "PEM CA the rediss:// server's certificate is checked by"},
      {"redis-cert", &c.redis_cert, "PEM client certificate for rediss://"},
      {"redis-key", &c.redis_key, "PEM private key of --redis-cert"},
      {"redis-password-file", &c.redis_password_file,
       "file holding Redis AUTH's password (instead of one in the URL)"},
      {"tls-cert", &c.tls_cert, "PEM certificate chain: serve TLS"},
      {"tls-key", &c.tls_key, "PEM private key of --tls-cert"},
      {"tls-client-ca", &c.tls_client_ca,
       "PEM CA: require client certificates it signed (mTLS)"},
      {"log-level", &c.log_level, "debug, info, warn or error"},
      {"drain-timeout", &c.drain_timeout, "seconds SIGTERM waits for shares in flight"},
      {"render-workers", &c.isolation.workers,
       "render workers (0: one per CPU the process may use: affinity, cgroup quota)"},
      {"render-queue", &c.isolation.queue,
       "shares that may wait for a render worker before RESOURCE_EXHAUSTED"},
      {"render-timeout", &c.isolation.timeout, "seconds one render may take"},
      {"render-memory-limit", &c.isolation.memory_limit,
       "bytes of memory one render may use"},
      {"render-heap-keep-bytes", &c.isolation.heap_keep_bytes,
       "bytes of freed heap a render worker keeps for its next render instead of "
       "returning them to the kernel (0: glibc's thresholds)"},
      {"render-isolation", &c.isolation.mode,
       "process (decode in docshare-render-worker processes) or thread (in the server)"},
      {"watcher-queue", &c.watcher_queue,
       "live events a watcher may lag before it is cut off"},
      {"max-session-documents", &c.session_caps.max_documents,
       "documents one session may hold"},
      {"max-session-bytes", &c.session_caps.max_session_bytes,
       "preview bytes one session may hold"},
      {"max-retained-bytes", &c.session_caps.max_retained_bytes,
       "preview bytes all sessions together may hold"},
      {"replay-cache-bytes", &c.session_caps.replay_cache_bytes,
       "bytes of decoded session logs a replica keeps for its watchers' replays (Redis; "
       "0: none)"},
      {"redis-call-threads", &c.redis_call_threads,
       "threads on which session calls wait for Redis (Redis only)"},
      {"redis-call-queue", &c.redis_call_queue,
       "session calls that may wait for a Redis call thread before RESOURCE_EXHAUSTED "
       "(gRPC) or 503 (HTTP) (Redis only)"},
      {"preview-cache-bytes", &c.preview_cache_bytes,
       "bytes of the rendered-preview cache (by SHA-256 of the upload)"},
      {"preview-cache-scope", &c.preview_cache_scope,
       "session (a cached preview serves only shares into the session that rendered "
       "it) or global (any session: its latency tells who shared the same bytes)"},
      {"upload-timeout", &c.upload_timeout,
       "seconds one upload may take before it is cut off"},
      {"max-concurrent-streams", &c.max_concurrent_streams,
       "concurrent RPCs per HTTP/2 connection"},
      {"max-inflight-upload-bytes", &c.max_inflight_upload_bytes,
       "upload bytes all shares together may hold before RESOURCE_EXHAUSTED (0: no "
       "limit)"},
      {"max-session-renders", &c.max_session_renders,
       "shares of one session rendering or waiting for the render pool (0: no limit)"},
      {"max-session-watchers", &c.max_session_watchers,
       "watch streams of one session on this replica (0: no limit)"},
      {"max-token-watchers", &c.max_token_watchers,
       "watch streams of one participant token (0: no limit)"},
      {"token-check-file-rate", &c.token_check_file_rate,
       "CheckFile calls per second per participant token (0: no limit)"},
      {"token-share-rate", &c.token_share_rate,
       "ShareDocument calls per second per participant token (0: no limit)"},
      {"grpc-memory-limit", &c.grpc_memory_limit,
       "bytes gRPC may allocate for connections and calls, a ResourceQuota (0: none)"},
      {"http2-guard", &c.http2_guard,
       "plaintext gRPC: accept connections through the HTTP/2 frame guard (false: gRPC "
       "listens itself and reads floods unguarded)"},
      {"http2-max-header-block-bytes", &c.http2_max_header_block_bytes,
       "plaintext gRPC: a client's HTTP/2 header block (HEADERS and CONTINUATION) past "
       "this closes its connection (a CONTINUATION flood; 0: no limit)"},
      {"http2-max-resets-per-second", &c.http2_max_resets_per_second,
       "plaintext gRPC: more RST_STREAM frames than this in a second from one client "
       "closes its connection (rapid reset; 0: no limit)"},
      {"http-address", &c.http_address,
       "host:port of the browsers' HTTP listener ([::]:port for IPv6; off: none)"},
      {"cors-origins", &c.cors_origins,
       "comma-separated origins allowed cross-origin HTTP access (empty: none)"},
      {"public-url", &c.public_url,
       "scheme://host[:port] that makes preview URLs absolute (empty: paths)"},
      {"preview-url-ttl", &c.preview_url_ttl,
       "seconds a signed preview URL stays valid at most"},
      {"demo", &c.demo, "serve the demo page (agent and consumer panes) at /demo"},
  };
}

// --- Parsing and printing, one pair per value type. --------------------------
// Parse returns an empty string on success, or why the text is not a value.

template <typename E>
struct Choice {
  const char* name;
  E value;
};
constexpr Choice<PreviewFormat> kFormats[] = {{"webp", PreviewFormat::kWebp},
                                              {"jpeg", PreviewFormat::kJpeg},
                                              {"png", PreviewFormat::kPng},
                                              {"gif", PreviewFormat::kGif}};
constexpr Choice<LogLevel> kLevels[] = {{"debug", LogLevel::kDebug},
                                        {"info", LogLevel::kInfo},
                                        {"warn", LogLevel::kWarn},
                                        {"error", LogLevel::kError}};
constexpr Choice<RenderIsolation> kIsolations[] = {{"process", RenderIsolation::kProcess},
                                                   {"thread", RenderIsolation::kThread}};
std::span<const Choice<PreviewFormat>> Choices(PreviewFormat*) { return kFormats; }
std::span<const Choice<LogLevel>> Choices(LogLevel*) { return kLevels; }
constexpr Choice<CacheScope> kCacheScopes[] = {{"session", CacheScope::kSession},
                                               {"global", CacheScope::kGlobal}};
std::span<const Choice<RenderIsolation>> Choices(RenderIsolation*) { return kIsolations; }
std::span<const Choice<CacheScope>> Choices(CacheScope*) { return kCacheScopes; }

template <typename E>
concept Enumerated = requires(E* e) {
  Choices(e);
};

template <typename T>
bool ParseInteger(absl::string_view text, T& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

std::string Parse(absl::string_view text, std::string* out) {
  *out = std::string(text);
  return "";
}

template <typename T>
requires std::is_integral_v<T> &&(!std::is_same_v<T, bool>)std::string
    Parse(absl::string_view text, T* out) {
  if (ParseInteger(text, *out)) return "";
  return absl::StrCat("is not a whole number from ", std::numeric_limits<T>::min(),
                      " to ", std::numeric_limits<T>::max());
}

std::string Parse(absl::string_view text, bool* out) {
  if (text == "true" || text == "1")
    *out = true;
  else if (text == "false" || text == "0")
    *out = false;
  else
    return "is not true or false";
  return "";
}

std::string Parse(absl::string_view text, absl::Duration* out) {
  int64_t seconds = 0;
  if (!ParseInteger(text, seconds) || seconds < 0) return "is not a number of seconds";
  *out = absl::Seconds(seconds);
  return "";
}

template <Enumerated E>
std::string Parse(absl::string_view text, E* out) {
  std::vector<std::string> names;
  for (const auto& choice : Choices(out)) {
    if (text == choice.name) {
      *out = choice.value;
      return "";
    }
    names.push_back(choice.name);
  }
  return absl::StrCat("is not one of ", absl::StrJoin(names, ", "));
}

std::string Parse(absl::string_view text, BackplaneConfig* out) {
  absl::StatusOr<BackplaneConfig> parsed = ParseBackplane(text);
  if (!parsed.ok()) return std::string(parsed.status().message());
  *out = *std::move(parsed);
  return "";
}

std::string Format(const std::string& v) { return v; }
template <typename T>
requires std::is_arithmetic_v<T> std::string Format(T v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else {
    return std::to_string(v);
  }
}
std::string Format(absl::Duration v) { return std::to_string(absl::ToInt64Seconds(v)); }
template <Enumerated E>
std::string Format(E v) {
  for (const auto& choice : Choices(static_cast<E*>(nullptr))) {
    if (choice.value == v) return choice.name;
  }
  return absl::StrCat("(", static_cast<int>(v), ")");  // not a value Parse makes
}
std::string Format(const BackplaneConfig& v) { return BackplaneUrl(v); }

std::string EnvName(absl::string_view flag) {
  std::string name = absl::StrCat("DOCSHARE_", flag);
  absl::StrReplaceAll({{"-", "_"}}, &name);
  absl::AsciiStrToUpper(&name);
  return name;
}

// `source` is what the user wrote it as: "--max-frames" or "DOCSHARE_MAX_FRAMES".
absl::Status Set(const Option& option, absl::string_view value,
                 absl::string_view source) {
  std::string why =
      std::visit([&](auto* target) { return Parse(value, target); }, option.target);
  if (why.empty()) return absl::OkStatus();
  std::string shown = option.secret ? "(secret)" : absl::StrCat("\"", value, "\"");
  if (absl::StartsWith(source, "--")) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", shown, " ", why));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(source, " (--", option.flag, "): ", shown, " ", why));
}

std::string Usage() {
  std::string usage = "usage: docshare-server [--option=value ...]\n\n";
  Config defaults;
  const std::map<std::string, std::string> effective = defaults.Effective();
  for (const Option& o : Options(defaults)) {
    const std::string& value = effective.at(o.flag);
    absl::StrAppend(&usage, "  --", o.flag, " (", EnvName(o.flag), ")\n      ", o.help,
                    "; default: ", value.empty() ? "(unset)" : value, "\n");
  }
  return usage;
}

const Option* Find(const std::vector<Option>& options, absl::string_view flag) {
  for (const Option& o : options) {
    if (flag == o.flag) return &o;
  }
  return nullptr;
}

absl::Status Bad(absl::string_view flag, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", why));
}

absl::StatusOr<RedisBackplaneConfig> ParseRedisUrl(absl::string_view url) {
  constexpr absl::string_view kScheme = "redis://";
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(why, " (expected memory or redis://host[:port][/db])"));
  };
  absl::string_view rest = url.substr(kScheme.size());
  RedisBackplaneConfig redis;
  if (const size_t slash = rest.find('/'); slash != absl::string_view::npos) {
    if (!ParseInteger(rest.substr(slash + 1), redis.db) || redis.db < 0) {
      return bad("has a database that is not a number from 0");
    }
    rest = rest.substr(0, slash);
  }
  if (absl::StrContains(rest, '@'))
    return bad("has credentials, which are not supported");
  absl::string_view host = rest, port;
  if (absl::StartsWith(rest, "[")) {  // [v6]:port
    const size_t close = rest.find(']');
    if (close == absl::string_view::npos) return bad("lacks the ']' of its IPv6 address");
    host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (!rest.empty() && rest[0] != ':') return bad("has text after its IPv6 address");
    if (!rest.empty()) port = rest.substr(1);
    if (rest == ":") return bad("has an empty port");
  } else if (const size_t colon = rest.find(':'); colon != absl::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (port.empty()) return bad("has an empty port");
  }
  if (host.empty()) return bad("has no host");
  if (!port.empty() &&
      (!ParseInteger(port, redis.port) || redis.port < 1 || redis.port > 65535)) {
    return bad("has a port that is not a number from 1 to 65535");
  }
  redis.host = std::string(host);
  return redis;
}

}  // namespace

absl::StatusOr<BackplaneConfig> ParseBackplane(absl::string_view text) {
  if (text == "memory") return MemoryBackplaneConfig{};
  const bool tls = absl::StartsWith(text, "rediss://");
  if (tls && !kRedisTlsAvailable) {
    return absl::InvalidArgumentError(
        "is rediss:// (TLS), which is not supported by this build: its hiredis (Debian "
        "12: 0.14) has no TLS, Debian 13's 1.2 has; use redis:// on a private network "
        "or a TLS sidecar (stunnel)");
  }
  if (absl::StartsWith(text, "redis://") || tls) {
    // Credentials ("user:password@" or ":password@") come off before the
    // address is parsed; errors never echo them.
    std::string rest(text.substr(tls ? 9 : 8));
    std::string username, password;
    if (const size_t at = rest.rfind('@'); at != std::string::npos) {
      const std::string credentials = rest.substr(0, at);
      const size_t colon = credentials.find(':');
      if (colon == std::string::npos || colon + 1 == credentials.size()) {
        return absl::InvalidArgumentError(
            "has credentials that are not user:password or :password");
      }
      username = credentials.substr(0, colon);
      password = credentials.substr(colon + 1);
      rest = rest.substr(at + 1);
    }
    absl::StatusOr<RedisBackplaneConfig> redis = ParseRedisUrl("redis://" + rest);
    if (!redis.ok()) return redis.status();
    redis->tls = tls;
    redis->username = std::move(username);
    redis->password = std::move(password);
    return *std::move(redis);
  }
  return absl::InvalidArgumentError("is neither memory nor redis://host[:port][/db]");
}

std::string BackplaneUrl(const BackplaneConfig& backplane) {
  struct Visitor {
    std::string operator()(const MemoryBackplaneConfig&) const { return "memory"; }
    std::string operator()(const RedisBackplaneConfig& r) const {
      const bool v6 = absl::StrContains(r.host, ':');
      return absl::StrCat(r.tls ? "rediss://" : "redis://",
                          r.password.empty() ? "" : absl::StrCat(r.username, ":***@"),
                          v6 ? "[" : "", r.host, v6 ? "]" : "", ":", r.port, "/", r.db);
    }
  };
  return std::visit(Visitor{}, backplane);
}

absl::Status CheckListenAddress(absl::string_view address) {
  if (absl::StartsWith(address, "unix:")) return absl::OkStatus();
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) {  // ":port" is every address
    return absl::InvalidArgumentError(
        absl::StrCat("\"", address, "\" is not host:port (or [IPv6]:port)"));
  }
  absl::string_view host = address.substr(0, colon);
  if (absl::StrContains(host, ':') &&
      !(absl::StartsWith(host, "[") && absl::EndsWith(host, "]"))) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", address, "\": an IPv6 address goes in brackets, [::]:port"));
  }
  int port = 0;
  if (!ParseInteger(address.substr(colon + 1), port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", address, "\": the port is not a number from 0 to 65535"));
  }
  return absl::OkStatus();
}

// Reads a secret's file into `value`: one secret a line (blank lines and
// surrounding whitespace dropped), joined by commas.
absl::Status ReadSecretFile(absl::string_view file_flag, absl::string_view value_flag,
                            const std::string& path, std::string& value) {
  if (path.empty()) return absl::OkStatus();
  if (!value.empty()) {
    return Bad(file_flag, absl::StrCat("--", value_flag, " and --", file_flag,
                                       " are exclusive: set one"));
  }
  std::ifstream in(path);
  if (!in) return Bad(file_flag, absl::StrCat("cannot read ", path));
  std::vector<std::string> secrets;
  for (std::string line; std::getline(in, line);) {
    absl::string_view trimmed = absl::StripAsciiWhitespace(line);
    if (!trimmed.empty()) secrets.emplace_back(trimmed);
  }
  if (secrets.empty()) return Bad(file_flag, absl::StrCat(path, " is empty"));
  value = absl::StrJoin(secrets, ",");
  return absl::OkStatus();
}

absl::StatusOr<Config> LoadConfig(const std::vector<std::string>& args,
                                  const std::map<std::string, std::string>& env) {
  Config config;
  const std::vector<Option> options = Options(config);
  for (const Option& o : options) {
    auto it = env.find(EnvName(o.flag));
    if (it == env.end()) continue;
    if (absl::Status s = Set(o, it->second, it->first); !s.ok()) return s;
  }
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") return absl::NotFoundError(Usage());
    if (!absl::StartsWith(arg, "--")) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument \"", arg, "\"; options are --name=value"));
    }
    arg.remove_prefix(2);
    absl::string_view name = arg.substr(0, arg.find('='));
    const Option* option = Find(options, name);
    if (option == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown option --", name, " (see --help)"));
    }
    absl::string_view value;
    const bool boolean = std::holds_alternative<bool*>(option->target);
    if (name.size() < arg.size()) {
      value = arg.substr(name.size() + 1);
    } else if (boolean && (i + 1 == args.size() || absl::StartsWith(args[i + 1], "--"))) {
      value = "true";  // a bare --demo
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
    }
    if (absl::Status s = Set(*option, value, absl::StrCat("--", name)); !s.ok()) return s;
  }
  if (absl::Status s = ReadSecretFile("admin-token-file", "admin-token",
                                      config.admin_token_file, config.admin_token);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ReadSecretFile("token-secret-file", "token-secret",
                                      config.token_secret_file, config.token_secret);
      !s.ok()) {
    return s;
  }
  return config;
}

std::map<std::string, std::string> DocshareEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    absl::string_view entry(*e);
    if (!absl::StartsWith(entry, "DOCSHARE_")) continue;
    size_t eq = entry.find('=');
    if (eq == absl::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

absl::Status Config::Validate() const {
  for (const auto& [flag, address] : {std::pair{"grpc-address", &grpc_address},
                                      {"metrics-address", &metrics_address}}) {
    if (absl::Status s = CheckListenAddress(*address); !s.ok())
      return Bad(flag, s.message());
  }
  // A short HMAC secret can be brute-forced offline from one consumer token.
  constexpr size_t kMinSecretBytes = 32;
  if (!admin_token.empty() && admin_token.size() < kMinSecretBytes) {
    return Bad(admin_token_file.empty() ? "admin-token" : "admin-token-file",
               absl::StrCat("the admin token must be at least ", kMinSecretBytes,
                            " bytes (e.g. openssl rand -hex 32)"));
  }
  if (admin_token.find(',') != std::string::npos) {
    return Bad(admin_token_file.empty() ? "admin-token" : "admin-token-file",
               "the admin token is one token (no comma, one line)");
  }
  for (const std::string& secret : TokenSecrets()) {
    if (secret.size() < kMinSecretBytes) {
      return Bad(token_secret_file.empty() ? "token-secret" : "token-secret-file",
                 absl::StrCat("each token secret must be at least ", kMinSecretBytes,
                              " bytes (e.g. openssl rand -hex 32)"));
    }
  }
  if (limits.max_file_bytes == 0) return Bad("max-file-bytes", "must be at least 1");
  if (limits.max_pixels == 0) return Bad("max-pixels", "must be at least 1");
  if (limits.max_frames < 1) return Bad("max-frames", "must be at least 1");
  if (limits.max_animation_pixels < limits.max_pixels) {
    return Bad("max-animation-pixels", "must be at least --max-pixels");
  }
  if (render.display_size < 1 || render.display_size > 16384) {
    return Bad("display-size", "must be 1-16384");
  }
  if (render.thumbnail_size < 1 || render.thumbnail_size > render.display_size) {
    return Bad("thumbnail-size", "must be 1 to --display-size");
  }
  // Both previews of an event stay under every client's 4 MiB receive limit.
  if (render.max_preview_bytes < 65536 || render.max_preview_bytes > 3145728) {
    return Bad("max-preview-bytes", "must be 65536-3145728 (64 KiB to 3 MiB)");
  }
  if (render.quality < 1 || render.quality > 100) {
    return Bad("preview-quality", "must be 1-100");
  }
  if (render.webp_effort < 0 || render.webp_effort > 6) {
    return Bad("webp-effort", "must be 0-6");
  }
  if (session_ttl < absl::Seconds(1))
    return Bad("session-ttl", "must be at least 1 second");
  if (!std::holds_alternative<MemoryBackplaneConfig>(backplane) && token_secret.empty()) {
    return Bad("token-secret",
               "must be set with a Redis backplane, so every replica verifies the same "
               "tokens");
  }
  if (tls_cert.empty() != tls_key.empty()) {
    return Bad(tls_cert.empty() ? "tls-cert" : "tls-key",
               "--tls-cert and --tls-key go together");
  }
  if (!tls_client_ca.empty() && tls_cert.empty()) {
    return Bad("tls-client-ca", "needs --tls-cert and --tls-key");
  }
  const auto* redis = std::get_if<RedisBackplaneConfig>(&backplane);
  if (!(redis && redis->tls) &&
      !(redis_ca.empty() && redis_cert.empty() && redis_key.empty())) {
    return Bad(!redis_ca.empty()     ? "redis-ca"
               : !redis_cert.empty() ? "redis-cert"
                                     : "redis-key",
               "needs a rediss:// backplane");
  }
  if (redis_cert.empty() != redis_key.empty()) {
    return Bad(redis_cert.empty() ? "redis-cert" : "redis-key",
               "--redis-cert and --redis-key go together");
  }
  if (!redis_password_file.empty()) {
    if (redis && !redis->password.empty()) {
      return Bad("redis-password-file", "the backplane URL already carries a password");
    }
    std::ifstream password(redis_password_file);
    std::string first;
    if (!password || !std::getline(password, first) || first.empty()) {
      return Bad("redis-password-file",
                 "is not a readable file starting with a password");
    }
  }
  if (isolation.workers < 0 || isolation.workers > 256) {
    return Bad("render-workers", "must be 0-256");
  }
  if (isolation.queue < 0) return Bad("render-queue", "must not be negative");
  if (isolation.heap_keep_bytes > kMaxHeapKeepBytes) {
    return Bad("render-heap-keep-bytes",
               absl::StrCat("must be at most ", kMaxHeapKeepBytes));
  }
  if (isolation.timeout < absl::Seconds(1)) {
    return Bad("render-timeout", "must be at least 1 second");
  }
  if (watcher_queue < 1) return Bad("watcher-queue", "must be at least 1");
  if (redis_call_threads < 1) return Bad("redis-call-threads", "must be at least 1");
  if (redis_call_queue < 1) return Bad("redis-call-queue", "must be at least 1");
  if (session_caps.max_documents < 1) {
    return Bad("max-session-documents", "must be at least 1");
  }
  if (upload_timeout < absl::Seconds(1)) {
    return Bad("upload-timeout", "must be at least 1 second");
  }
  if (max_concurrent_streams < 1)
    return Bad("max-concurrent-streams", "must be at least 1");
  for (auto [flag, value] :
       {std::pair{"max-session-renders", max_session_renders},
        {"max-session-watchers", max_session_watchers},
        {"max-token-watchers", max_token_watchers},
        {"token-check-file-rate", token_check_file_rate},
        {"token-share-rate", token_share_rate},
        {"http2-max-header-block-bytes", http2_max_header_block_bytes},
        {"http2-max-resets-per-second", http2_max_resets_per_second}}) {
    if (value < 0) return Bad(flag, "must not be negative (0 turns it off)");
  }
  if (http_address.empty() ||
      (http_address != "off" && http_address.rfind(':') == std::string::npos)) {
    return Bad("http-address", "must be host:port, [v6]:port or off");
  }
  if (absl::StatusOr<std::vector<std::string>> origins = ParseOrigins(cors_origins);
      !origins.ok()) {
    return Bad("cors-origins", std::string(origins.status().message()));
  }
  if (!public_url.empty()) {
    absl::StatusOr<std::vector<std::string>> origin = ParseOrigins(public_url);
    if (!origin.ok() || origin->size() != 1) {
      return Bad("public-url", "must be one http:// or https:// origin, without a path");
    }
  }
  if (preview_url_ttl < absl::Seconds(1))
    return Bad("preview-url-ttl", "must be at least 1 second");
  return absl::OkStatus();
}

std::vector<std::string> Config::TokenSecrets() const {
  if (token_secret.empty()) return {};
  return absl::StrSplit(token_secret, ',');
}

absl::StatusOr<std::vector<std::string>> ParseOrigins(std::string_view list) {
  std::vector<std::string> origins;
  for (absl::string_view raw : absl::StrSplit(absl::string_view(list.data(), list.size()),
                                              ',', absl::SkipWhitespace())) {
    const std::string origin(absl::StripAsciiWhitespace(raw));
    const size_t scheme_end = origin.find("://");
    const std::string scheme = origin.substr(0, scheme_end);
    const std::string host =
        scheme_end == std::string::npos ? "" : origin.substr(scheme_end + 3);
    const bool host_ok =
        !host.empty() && host.find_first_of("/?#@ ") == std::string::npos;
    if ((scheme != "http" && scheme != "https") || !host_ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", origin, "\" is not an origin (scheme://host[:port], http or https)"));
    }
    origins.push_back(origin);
  }
  return origins;
}

std::map<std::string, std::string> Config::Effective() const {
  Config copy = *this;  // Options() points into a Config it may write
  std::map<std::string, std::string> out;
  for (const Option& o : Options(copy)) {
    std::string value = std::visit([](auto* v) { return Format(*v); }, o.target);
    if (o.secret) value = value.empty() ? "(random)" : "(set)";
    out[o.flag] = value;
  }
  return out;
}

}  // namespace docshare
