#include "service/config/config.h"

#include <charconv>
#include <functional>
#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

extern char** environ;

namespace docshare {
namespace {

using Field = std::variant<std::string Config::*, uint64_t Config::*, int64_t Config::*>;

struct Option {
  const char* flag;  // kebab-case, without "--"
  Field field;
  const char* help;
  bool secret = false;
};

const std::vector<Option>& Options() {
  static const auto* options = new std::vector<Option>{
      {"grpc-address", &Config::grpc_address, "host:port of the gRPC server"},
      {"metrics-address", &Config::metrics_address,
       "host:port serving /metrics, /healthz, /readyz"},
      {"admin-token", &Config::admin_token,
       "token for StartSession/EndSession (default: random, printed once)", true},
      {"token-secret", &Config::token_secret,
       "HMAC secret of participant tokens (default: random per process)", true},
      {"max-file-bytes", &Config::max_file_bytes, "largest upload accepted"},
      {"max-pixels", &Config::max_pixels, "largest width x height of one frame"},
      {"max-frames", &Config::max_frames, "most frames of an animation"},
      {"max-animation-pixels", &Config::max_animation_pixels,
       "most pixels over all frames of an animation"},
      {"display-size", &Config::display_size, "longest edge of the display preview"},
      {"thumbnail-size", &Config::thumbnail_size, "longest edge of the thumbnail"},
      {"preview-format", &Config::preview_format, "webp, jpeg, png or gif"},
      {"preview-quality", &Config::preview_quality, "encoder quality 1-100"},
      {"webp-effort", &Config::webp_effort, "libwebp effort 0-6"},
      {"session-ttl", &Config::session_ttl, "default session lifetime, seconds"},
      {"backplane", &Config::backplane, "memory, or redis://host:port[/db]"},
      {"tls-cert", &Config::tls_cert, "PEM certificate chain: serve TLS"},
      {"tls-key", &Config::tls_key, "PEM private key of --tls-cert"},
      {"tls-client-ca", &Config::tls_client_ca,
       "PEM CA: require client certificates it signed (mTLS)"},
      {"log-level", &Config::log_level, "debug, info, warn or error"},
      {"drain-timeout", &Config::drain_timeout,
       "seconds SIGTERM waits for shares in flight"},
      {"render-workers", &Config::render_workers, "render threads (0: one per core)"},
      {"render-queue", &Config::render_queue,
       "shares that may wait for a render worker before RESOURCE_EXHAUSTED"},
      {"render-timeout", &Config::render_timeout, "seconds one render may take"},
      {"render-memory-limit", &Config::render_memory_limit,
       "bytes of memory one render may use"},
      {"render-isolation", &Config::render_isolation,
       "process (decode in docshare-render-worker processes) or thread (in the server)"},
      {"watcher-queue", &Config::watcher_queue,
       "live events a watcher may lag before it is cut off"},
      {"max-session-documents", &Config::max_session_documents,
       "documents one session may hold"},
      {"max-session-bytes", &Config::max_session_bytes,
       "preview bytes one session may hold"},
      {"max-retained-bytes", &Config::max_retained_bytes,
       "preview bytes all sessions together may hold"},
      {"preview-cache-bytes", &Config::preview_cache_bytes,
       "bytes of the rendered-preview cache (by SHA-256 of the upload)"},
      {"upload-timeout", &Config::upload_timeout,
       "seconds one upload may take before it is cut off"},
      {"max-concurrent-streams", &Config::max_concurrent_streams,
       "concurrent RPCs per HTTP/2 connection"},
  };
  return *options;
}

std::string EnvName(std::string_view flag) {
  std::string name = absl::StrCat("DOCSHARE_", std::string(flag));
  absl::StrReplaceAll({{"-", "_"}}, &name);
  absl::AsciiStrToUpper(&name);
  return name;
}

template <typename T>
bool ParseNumber(const std::string& text, T& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

absl::Status Set(Config& config, const Option& option, const std::string& value,
                 const std::string& source) {
  bool ok = std::visit(
      [&](auto member) {
        using T = std::remove_reference_t<decltype(config.*member)>;
        if constexpr (std::is_same_v<T, std::string>) {
          config.*member = value;
          return true;
        } else {
          return ParseNumber(value, config.*member);
        }
      },
      option.field);
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      source, ": \"", value, "\" is not a valid number for --", option.flag));
}

std::string Usage() {
  std::string usage = "usage: docshare-server [--option=value ...]\n\n";
  Config defaults;
  auto effective = defaults.Effective();
  for (const Option& o : Options()) {
    absl::StrAppend(&usage, "  --", o.flag, " (", EnvName(o.flag), ")\n      ", o.help,
                    "; default: ", effective[o.flag], "\n");
  }
  return usage;
}

const Option* Find(std::string_view flag) {
  for (const Option& o : Options()) {
    if (flag == o.flag) return &o;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<Config> LoadConfig(const std::vector<std::string>& args,
                                  const std::map<std::string, std::string>& env) {
  Config config;
  for (const Option& o : Options()) {
    auto it = env.find(EnvName(o.flag));
    if (it == env.end()) continue;
    if (absl::Status s = Set(config, o, it->second, it->first); !s.ok()) return s;
  }
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "--help" || arg == "-h") return absl::NotFoundError(Usage());
    if (arg.rfind("--", 0) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument \"", arg, "\"; options are --name=value"));
    }
    arg = arg.substr(2);
    std::string value;
    if (size_t eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--", arg, " needs a value"));
    }
    const Option* option = Find(arg);
    if (option == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown option --", arg, " (see --help)"));
    }
    if (absl::Status s = Set(config, *option, value, absl::StrCat("--", arg)); !s.ok()) {
      return s;
    }
  }
  return config;
}

std::map<std::string, std::string> DocshareEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    if (entry.substr(0, 9) != "DOCSHARE_") continue;
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

absl::Status Config::Validate() const {
  auto bad = [](std::string_view flag, std::string why) {
    return absl::InvalidArgumentError(absl::StrCat("--", std::string(flag), ": ", why));
  };
  if (grpc_address.empty()) return bad("grpc-address", "must not be empty");
  if (max_file_bytes == 0) return bad("max-file-bytes", "must be at least 1");
  if (max_pixels == 0) return bad("max-pixels", "must be at least 1");
  if (max_frames < 1) return bad("max-frames", "must be at least 1");
  if (max_animation_pixels < max_pixels) {
    return bad("max-animation-pixels", "must be at least --max-pixels");
  }
  if (display_size < 1 || display_size > 16384) return bad("display-size", "must be 1-16384");
  if (thumbnail_size < 1 || thumbnail_size > display_size) {
    return bad("thumbnail-size", "must be 1 to --display-size");
  }
  if (preview_format != "webp" && preview_format != "jpeg" && preview_format != "png" &&
      preview_format != "gif") {
    return bad("preview-format", absl::StrCat("\"", preview_format,
                                              "\" is not one of webp, jpeg, png, gif"));
  }
  if (preview_quality < 1 || preview_quality > 100) return bad("preview-quality", "must be 1-100");
  if (webp_effort < 0 || webp_effort > 6) return bad("webp-effort", "must be 0-6");
  if (session_ttl < 1) return bad("session-ttl", "must be at least 1 second");
  if (backplane != "memory" && backplane.rfind("redis://", 0) != 0) {
    if (backplane.rfind("rediss://", 0) == 0) {
      return bad("backplane",
                 "rediss:// (TLS) is not supported: Debian's hiredis 0.14 has no TLS; "
                 "use redis:// on a private network or a TLS sidecar (stunnel)");
    }
    return bad("backplane", absl::StrCat("\"", backplane,
                                         "\" is neither memory nor redis://host:port[/db]"));
  }
  if (backplane != "memory" && token_secret.empty()) {
    return bad("token-secret",
               "must be set with a Redis backplane, so every replica verifies the same tokens");
  }
  if (tls_cert.empty() != tls_key.empty()) {
    return bad(tls_cert.empty() ? "tls-cert" : "tls-key",
               "--tls-cert and --tls-key go together");
  }
  if (!tls_client_ca.empty() && tls_cert.empty()) {
    return bad("tls-client-ca", "needs --tls-cert and --tls-key");
  }
  if (log_level != "debug" && log_level != "info" && log_level != "warn" &&
      log_level != "error") {
    return bad("log-level", "must be debug, info, warn or error");
  }
  if (drain_timeout < 0) return bad("drain-timeout", "must not be negative");
  if (render_workers < 0 || render_workers > 256) return bad("render-workers", "must be 0-256");
  if (render_queue < 0) return bad("render-queue", "must not be negative");
  if (render_timeout < 1) return bad("render-timeout", "must be at least 1 second");
  if (render_isolation != "process" && render_isolation != "thread") {
    return bad("render-isolation", "must be process or thread");
  }
  if (watcher_queue < 1) return bad("watcher-queue", "must be at least 1");
  if (max_session_documents < 1) return bad("max-session-documents", "must be at least 1");
  if (upload_timeout < 1) return bad("upload-timeout", "must be at least 1 second");
  if (max_concurrent_streams < 1) return bad("max-concurrent-streams", "must be at least 1");
  return absl::OkStatus();
}

std::map<std::string, std::string> Config::Effective() const {
  std::map<std::string, std::string> out;
  for (const Option& o : Options()) {
    std::string value = std::visit(
        [&](auto member) {
          using T = std::remove_cvref_t<decltype(this->*member)>;
          if constexpr (std::is_same_v<T, std::string>) {
            return this->*member;
          } else {
            return std::to_string(this->*member);
          }
        },
        o.field);
    if (o.secret) value = value.empty() ? "(random)" : "(set)";
    out[o.flag] = value;
  }
  return out;
}

}  // namespace docshare
