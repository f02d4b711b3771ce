// docshare-cli: a human's client for docshare.
//
//   docshare-cli [--address HOST:PORT] [--token TOKEN] COMMAND ...
//     start SESSION_ID [--ttl SECONDS] [--consumer-may-share]   (admin token)
//     end SESSION_ID                                             (admin token)
//     share SESSION_ID FILE...                                   (participant token)
//     watch SESSION_ID [--after N] [--out DIR] [--urls]          (participant or admin)
//     check FILE
//     withdraw SESSION_ID DOCUMENT_ID                            (sharing role or admin)
//     ack SESSION_ID DOCUMENT_ID displayed|closed                (participant)
//     session SESSION_ID [--urls | --inline]                     (participant or admin)
// TLS: --tls-ca PEM (server's CA), and for mTLS --tls-cert PEM --tls-key PEM.
// The token also comes from $DOCSHARE_TOKEN; the address from $DOCSHARE_ADDRESS.
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "docshare/v1/docshare.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace {

namespace v1 = docshare::v1;

struct Args {
  std::string address = "localhost:50051";
  std::string token;
  std::string command;
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;  // --name value / --flag ""
  uint32_t ttl = 0;                            // --ttl
  uint64_t after = 0;                          // --after
};

constexpr std::string_view kValueOptions[] = {"address", "token",  "ttl",      "after",
                                              "out",     "tls-ca", "tls-cert", "tls-key"};
constexpr std::string_view kFlags[] = {"consumer-may-share", "urls", "inline"};

void Usage() {
  std::cerr << "usage: docshare-cli [--address HOST:PORT] [--token TOKEN] COMMAND ...\n"
               "  start SESSION_ID [--ttl SECONDS] [--consumer-may-share]\n"
               "  end SESSION_ID\n"
               "  share SESSION_ID FILE...\n"
               "  watch SESSION_ID [--after N] [--out DIR] [--urls]\n"
               "  check FILE\n"
               "  withdraw SESSION_ID DOCUMENT_ID\n"
               "  ack SESSION_ID DOCUMENT_ID displayed|closed\n"
               "  session SESSION_ID [--urls | --inline]\n"
               "TLS: --tls-ca PEM [--tls-cert PEM --tls-key PEM] (plaintext without).\n"
               "The token may come from $DOCSHARE_TOKEN, the address from "
               "$DOCSHARE_ADDRESS.\n";
}

// Exit code 2: the command line is wrong, nothing was sent.
int UsageError(const std::string& why) {
  std::cerr << "docshare-cli: " << why << "\n";
  Usage();
  return 2;
}

template <typename T>
std::optional<T> ParseNumber(const std::string& text) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return {};
  return value;
}

// The command line, every value parsed; or why not.
std::variant<Args, std::string> Parse(int argc, char** argv) {
  Args a;
  if (const char* t = std::getenv("DOCSHARE_TOKEN")) a.token = t;
  if (const char* addr = std::getenv("DOCSHARE_ADDRESS")) a.address = addr;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      if (a.command.empty()) {
        a.command = arg;
      } else {
        a.positional.push_back(arg);
      }
      continue;
    }
    std::string name = arg.substr(2), value;
    const size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (std::ranges::find(kFlags, name) != std::end(kFlags)) {
      if (eq != std::string::npos) return "--" + name + " takes no value";
    } else if (std::ranges::find(kValueOptions, name) == std::end(kValueOptions)) {
      return "unknown option --" + name;
    } else if (eq == std::string::npos) {
      if (i + 1 >= argc) return "--" + name + " needs a value";
      value = argv[++i];
    }
    if (name == "address") {
      a.address = value;
    } else if (name == "token") {
      a.token = value;
    } else {
      a.options[name] = value;
    }
  }
  if (a.options.count("ttl")) {
    std::optional<uint32_t> ttl = ParseNumber<uint32_t>(a.options["ttl"]);
    if (!ttl) return "--ttl: \"" + a.options["ttl"] + "\" is not a number of seconds";
    a.ttl = *ttl;
  }
  if (a.options.count("after")) {
    std::optional<uint64_t> after = ParseNumber<uint64_t>(a.options["after"]);
    if (!after) {
      return "--after: \"" + a.options["after"] + "\" is not a sequence number";
    }
    a.after = *after;
  }
  return a;
}

int Fail(const grpc::Status& status, const grpc::ClientContext& context) {
  // The same names as the status codes' in the gRPC and absl specifications.
  std::cerr << "error: "
            << absl::StatusCodeToString(
                   static_cast<absl::StatusCode>(status.error_code()))
            << " " << status.error_message();
  for (const auto& [key, value] : context.GetServerTrailingMetadata()) {
    std::string k(key.data(), key.size());
    if (k.rfind("docshare-", 0) == 0) std::cerr << " [" << k << ": " << value << "]";
  }
  std::cerr << "\n";
  return 1;
}

void Authorize(grpc::ClientContext& context, const Args& a) {
  if (!a.token.empty()) context.AddMetadata("authorization", "Bearer " + a.token);
}

std::string ReadFile(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  *ok = static_cast<bool>(in);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string RoleLabel(v1::Role role) {
  switch (role) {
    case v1::ROLE_AGENT:
      return "agent";
    case v1::ROLE_CONSUMER:
      return "consumer";
    case v1::ROLE_ADMIN:
      return "admin";
    default:
      return v1::Role_Name(role);
  }
}

std::string AckLabel(v1::Acknowledgement ack) {
  switch (ack) {
    case v1::ACKNOWLEDGEMENT_DISPLAYED:
      return "displayed";
    case v1::ACKNOWLEDGEMENT_CLOSED:
      return "closed";
    default:
      return v1::Acknowledgement_Name(ack);
  }
}

std::string Extension(const std::string& mime) {
  if (mime == "image/webp") return ".webp";
  if (mime == "image/jpeg") return ".jpg";
  if (mime == "image/png") return ".png";
  if (mime == "image/gif") return ".gif";
  return ".bin";
}

int Start(const Args& a, v1::SessionService::Stub& stub) {
  if (a.positional.size() != 1) return UsageError("wrong number of arguments");
  v1::StartSessionRequest req;
  req.set_session_id(a.positional[0]);
  req.set_ttl_seconds(a.ttl);
  req.set_consumer_may_share(a.options.count("consumer-may-share") > 0);
  v1::StartSessionResponse resp;
  grpc::ClientContext ctx;
  Authorize(ctx, a);
  grpc::Status s = stub.StartSession(&ctx, req, &resp);
  if (!s.ok()) return Fail(s, ctx);
  std::cout << "AGENT_TOKEN=" << resp.agent_token() << "\n"
            << "CONSUMER_TOKEN=" << resp.consumer_token() << "\n"
            << "EXPIRES_AT=" << resp.expires_at().seconds() << "\n";
  return 0;
}

int End(const Args& a, v1::SessionService::Stub& stub) {
  if (a.positional.size() != 1) return UsageError("wrong number of arguments");
  v1::EndSessionRequest req;
  req.set_session_id(a.positional[0]);
  v1::EndSessionResponse resp;
  grpc::ClientContext ctx;
  Authorize(ctx, a);
  grpc::Status s = stub.EndSession(&ctx, req, &resp);
  if (!s.ok()) return Fail(s, ctx);
  std::cout << "ended " << a.positional[0] << ": " << resp.documents_purged()
            << " documents purged\n";
  return 0;
}

int Share(const Args& a, v1::DocumentService::Stub& stub) {
  if (a.positional.size() < 2) return UsageError("share needs SESSION_ID FILE...");
  int failures = 0;
  for (size_t i = 1; i < a.positional.size(); ++i) {
    const std::string& path = a.positional[i];
    bool ok = false;
    std::string bytes = ReadFile(path, &ok);
    if (!ok) {
      std::cerr << path << ": cannot read\n";
      ++failures;
      continue;
    }
    grpc::ClientContext ctx;
    Authorize(ctx, a);
    v1::ShareDocumentResponse resp;
    auto writer = stub.ShareDocument(&ctx, &resp);
    v1::ShareDocumentRequest msg;
    auto* header = msg.mutable_header();
    header->set_session_id(a.positional[0]);
    header->set_filename(std::filesystem::path(path).filename().string());
    header->set_size_bytes(bytes.size());
    bool open = writer->Write(msg);
    constexpr size_t kChunk = 64 * 1024;
    for (size_t off = 0; open && off < bytes.size(); off += kChunk) {
      msg.set_chunk(bytes.substr(off, kChunk));
      open = writer->Write(msg);
    }
    writer->WritesDone();
    grpc::Status s = writer->Finish();
    if (!s.ok()) {
      std::cerr << path << ": ";
      Fail(s, ctx);
      ++failures;
      continue;
    }
    const auto& d = resp.document();
    std::cout << path << ": shared as " << d.document_id() << " ("
              << v1::FileType_Name(d.source_type()) << " " << d.source_width() << "x"
              << d.source_height() << ", " << d.frame_count() << " frame(s))\n";
  }
  return failures == 0 ? 0 : 1;
}

int Watch(const Args& a, v1::SessionService::Stub& stub) {
  if (a.positional.size() != 1) return UsageError("wrong number of arguments");
  v1::WatchSessionRequest req;
  req.set_session_id(a.positional[0]);
  req.set_after_sequence(a.after);
  const bool urls = a.options.count("urls") > 0;
  if (urls) req.set_preview_delivery(v1::PREVIEW_DELIVERY_URL);
  const std::string out = a.options.count("out") ? a.options.at("out") : ".";
  if (!urls) std::filesystem::create_directories(out);
  grpc::ClientContext ctx;
  Authorize(ctx, a);
  auto reader = stub.WatchSession(&ctx, req);
  v1::SessionEvent event;
  while (reader->Read(&event)) {
    if (event.has_session_ended()) {
      std::cout << event.sequence() << " session_ended " << event.session_ended().reason()
                << "\n"
                << std::flush;
      continue;
    }
    if (event.has_document_withdrawn()) {
      std::cout << event.sequence() << " document_withdrawn "
                << event.document_withdrawn().document_id() << " "
                << RoleLabel(event.document_withdrawn().withdrawn_by()) << "\n"
                << std::flush;
      continue;
    }
    if (event.has_document_acknowledged()) {
      const auto& ack = event.document_acknowledged();
      std::cout << event.sequence() << " document_acknowledged " << ack.document_id()
                << " " << RoleLabel(ack.acknowledged_by()) << " "
                << AckLabel(ack.acknowledgement()) << "\n"
                << std::flush;
      continue;
    }
    const auto& d = event.document_shared().document();
    std::cout << event.sequence() << " document_shared " << d.document_id() << " "
              << d.filename();
    if (d.previews().empty()) std::cout << " (withdrawn)";
    for (const auto& p : d.previews()) {
      if (urls) {
        std::cout << " " << p.url() << " " << p.width() << "x" << p.height();
        continue;
      }
      const std::string name =
          std::to_string(event.sequence()) + "-" + d.document_id() + "-" +
          (p.rendition() == v1::RENDITION_DISPLAY ? "display" : "thumbnail") +
          Extension(p.mime_type());
      std::ofstream(std::filesystem::path(out) / name, std::ios::binary) << p.data();
      std::cout << " " << (std::filesystem::path(out) / name).string() << " " << p.width()
                << "x" << p.height();
    }
    std::cout << "\n" << std::flush;
  }
  grpc::Status s = reader->Finish();
  return s.ok() ? 0 : Fail(s, ctx);
}

int Withdraw(const Args& a, v1::DocumentService::Stub& stub) {
  if (a.positional.size() != 2)
    return UsageError("withdraw needs SESSION_ID DOCUMENT_ID");
  v1::WithdrawDocumentRequest req;
  req.set_session_id(a.positional[0]);
  req.set_document_id(a.positional[1]);
  v1::WithdrawDocumentResponse resp;
  grpc::ClientContext ctx;
  Authorize(ctx, a);
  grpc::Status s = stub.WithdrawDocument(&ctx, req, &resp);
  if (!s.ok()) return Fail(s, ctx);
  std::cout << "withdrew " << a.positional[1] << " from " << a.positional[0] << "\n";
  return 0;
}

int Ack(const Args& a, v1::DocumentService::Stub& stub) {
  if (a.positional.size() != 3) {
    return UsageError("ack needs SESSION_ID DOCUMENT_ID displayed|closed");
  }
  v1::AcknowledgeDocumentRequest req;
  req.set_session_id(a.positional[0]);
  req.set_document_id(a.positional[1]);
  if (a.positional[2] == "displayed") {
    req.set_acknowledgement(v1::ACKNOWLEDGEMENT_DISPLAYED);
  } else if (a.positional[2] == "closed") {
    req.set_acknowledgement(v1::ACKNOWLEDGEMENT_CLOSED);
  } else {
    return UsageError("ack: \"" + a.positional[2] + "\" is not displayed or closed");
  }
  v1::AcknowledgeDocumentResponse resp;
  grpc::ClientContext ctx;
  Authorize(ctx, a);
  grpc::Status s = stub.AcknowledgeDocument(&ctx, req, &resp);
  if (!s.ok()) return Fail(s, ctx);
  std::cout << "acknowledged " << a.positional[1] << " " << a.positional[2] << "\n";
  return 0;
}

// One line of facts, then one line per document still shared.
int Session(const Args& a, v1::SessionService::Stub& stub) {
  if (a.positional.size() != 1) return UsageError("wrong number of arguments");
  if (a.options.count("urls") && a.options.count("inline")) {
    return UsageError("--urls and --inline exclude each other");
  }
  v1::GetSessionRequest req;
  req.set_session_id(a.positional[0]);
  req.set_preview_delivery(a.options.count("inline") ? v1::PREVIEW_DELIVERY_INLINE
                                                     : v1::PREVIEW_DELIVERY_URL);
  v1::Session resp;
  grpc::ClientContext ctx;
  Authorize(ctx, a);
  grpc::Status s = stub.GetSession(&ctx, req, &resp);
  if (!s.ok()) return Fail(s, ctx);
  std::cout << "session " << resp.session_id() << " "
            << v1::SessionState_Name(resp.state())
            << " expires_at=" << resp.expires_at().seconds()
            << " consumer_may_share=" << (resp.consumer_may_share() ? "true" : "false")
            << " last_sequence=" << resp.last_sequence()
            << " watchers=" << resp.watchers() << " documents=" << resp.documents_size()
            << "\n";
  for (const v1::Document& d : resp.documents()) {
    std::cout << d.document_id() << " " << d.filename() << " "
              << RoleLabel(d.shared_by());
    for (const v1::Preview& p : d.previews()) {
      std::cout << " "
                << (p.rendition() == v1::RENDITION_DISPLAY ? "display" : "thumbnail")
                << "="
                << (p.url().empty() ? std::to_string(p.size_bytes()) + "B" : p.url());
    }
    std::cout << "\n";
  }
  return 0;
}

int Check(const Args& a, v1::DocumentService::Stub& stub) {
  if (a.positional.size() != 1) return UsageError("wrong number of arguments");
  bool ok = false;
  std::string bytes = ReadFile(a.positional[0], &ok);
  if (!ok) {
    std::cerr << a.positional[0] << ": cannot read\n";
    return 1;
  }
  v1::CheckFileRequest req;
  req.set_head(bytes.substr(0, 4096));
  req.set_filename(std::filesystem::path(a.positional[0]).filename().string());
  v1::CheckFileResponse resp;
  grpc::ClientContext ctx;
  Authorize(ctx, a);
  grpc::Status s = stub.CheckFile(&ctx, req, &resp);
  if (!s.ok()) return Fail(s, ctx);
  std::cout << a.positional[0] << ": "
            << (resp.supported() ? "supported" : "not supported") << " ("
            << resp.detected_mime_type() << ")";
  if (!resp.supported()) std::cout << " " << v1::RejectReason_Name(resp.reason());
  std::cout << ": " << resp.message() << "\n";
  return resp.supported() ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h") {
      Usage();
      return 0;
    }
  }
  std::variant<Args, std::string> parsed = Parse(argc, argv);
  if (const std::string* why = std::get_if<std::string>(&parsed)) return UsageError(*why);
  const Args& a = std::get<Args>(parsed);
  if (a.command.empty()) return UsageError("no command");
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::InsecureChannelCredentials();
  if (a.options.count("tls-ca")) {
    grpc::SslCredentialsOptions tls;
    bool ok = true;
    tls.pem_root_certs = ReadFile(a.options.at("tls-ca"), &ok);
    if (a.options.count("tls-cert"))
      tls.pem_cert_chain = ReadFile(a.options.at("tls-cert"), &ok);
    if (a.options.count("tls-key"))
      tls.pem_private_key = ReadFile(a.options.at("tls-key"), &ok);
    if (!ok) {
      std::cerr << "cannot read a --tls-* file\n";
      return 2;
    }
    credentials = grpc::SslCredentials(tls);
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  auto channel = grpc::CreateCustomChannel(a.address, credentials, args);
  v1::SessionService::Stub sessions(channel);
  v1::DocumentService::Stub documents(channel);
  if (a.command == "start") return Start(a, sessions);
  if (a.command == "end") return End(a, sessions);
  if (a.command == "watch") return Watch(a, sessions);
  if (a.command == "share") return Share(a, documents);
  if (a.command == "check") return Check(a, documents);
  if (a.command == "withdraw") return Withdraw(a, documents);
  if (a.command == "ack") return Ack(a, documents);
  if (a.command == "session") return Session(a, sessions);
  return UsageError("unknown command \"" + a.command + "\"");
}
