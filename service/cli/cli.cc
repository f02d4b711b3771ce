// docshare-cli: a human's client for docshare.
//
//   docshare-cli [--address HOST:PORT] [--token TOKEN] COMMAND ...
//     start SESSION_ID [--ttl SECONDS] [--consumer-may-share]   (admin token)
//     end SESSION_ID                                             (admin token)
//     share SESSION_ID FILE...                                   (participant token)
//     watch SESSION_ID [--after N] [--out DIR]                   (participant or admin)
//     check FILE
// TLS: --tls-ca PEM (server's CA), and for mTLS --tls-cert PEM --tls-key PEM.
// The token also comes from $DOCSHARE_TOKEN; the address from $DOCSHARE_ADDRESS.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

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
};

int Usage() {
  std::cerr << "usage: docshare-cli [--address HOST:PORT] [--token TOKEN] COMMAND ...\n"
               "  start SESSION_ID [--ttl SECONDS] [--consumer-may-share]\n"
               "  end SESSION_ID\n"
               "  share SESSION_ID FILE...\n"
               "  watch SESSION_ID [--after N] [--out DIR]\n"
               "  check FILE\n"
               "TLS: --tls-ca PEM [--tls-cert PEM --tls-key PEM] (plaintext without).\n"
               "The token may come from $DOCSHARE_TOKEN, the address from "
               "$DOCSHARE_ADDRESS.\n";
  return 2;
}

Args Parse(int argc, char** argv) {
  Args a;
  if (const char* t = std::getenv("DOCSHARE_TOKEN")) a.token = t;
  if (const char* addr = std::getenv("DOCSHARE_ADDRESS")) a.address = addr;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) == 0) {
      std::string name = arg.substr(2), value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else if (name != "consumer-may-share" && i + 1 < argc) {
        value = argv[++i];
      }
      if (name == "address") a.address = value;
      else if (name == "token") a.token = value;
      else a.options[name] = value;
    } else if (a.command.empty()) {
      a.command = arg;
    } else {
      a.positional.push_back(arg);
    }
  }
  return a;
}

int Fail(const grpc::Status& status, const grpc::ClientContext& context) {
  std::cerr << "error: " << status.error_code() << " " << status.error_message();
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

std::string Extension(const std::string& mime) {
  if (mime == "image/webp") return ".webp";
  if (mime == "image/jpeg") return ".jpg";
  if (mime == "image/png") return ".png";
  if (mime == "image/gif") return ".gif";
  return ".bin";
}

int Start(const Args& a, v1::SessionService::Stub& stub) {
  if (a.positional.size() != 1) return Usage();
  v1::StartSessionRequest req;
  req.set_session_id(a.positional[0]);
  if (a.options.count("ttl")) req.set_ttl_seconds(std::stoul(a.options.at("ttl")));
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
  if (a.positional.size() != 1) return Usage();
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
  if (a.positional.size() < 2) return Usage();
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
  if (a.positional.size() != 1) return Usage();
  v1::WatchSessionRequest req;
  req.set_session_id(a.positional[0]);
  if (a.options.count("after")) req.set_after_sequence(std::stoull(a.options.at("after")));
  const std::string out = a.options.count("out") ? a.options.at("out") : ".";
  std::filesystem::create_directories(out);
  grpc::ClientContext ctx;
  Authorize(ctx, a);
  auto reader = stub.WatchSession(&ctx, req);
  v1::SessionEvent event;
  while (reader->Read(&event)) {
    if (event.has_session_ended()) {
      std::cout << event.sequence() << " session_ended " << event.session_ended().reason()
                << "\n" << std::flush;
      continue;
    }
    const auto& d = event.document_shared().document();
    std::cout << event.sequence() << " document_shared " << d.document_id() << " "
              << d.filename();
    for (const auto& p : d.previews()) {
      const std::string name = std::to_string(event.sequence()) + "-" + d.document_id() +
                               "-" + (p.rendition() == v1::RENDITION_DISPLAY ? "display"
                                                                             : "thumbnail") +
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

int Check(const Args& a, v1::DocumentService::Stub& stub) {
  if (a.positional.size() != 1) return Usage();
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
  std::cout << a.positional[0] << ": " << (resp.supported() ? "supported" : "not supported")
            << " (" << resp.detected_mime_type() << ")";
  if (!resp.supported()) std::cout << " " << v1::RejectReason_Name(resp.reason());
  std::cout << ": " << resp.message() << "\n";
  return resp.supported() ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  Args a = Parse(argc, argv);
  if (a.command.empty()) return Usage();
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (a.options.count("tls-ca")) {
    grpc::SslCredentialsOptions tls;
    bool ok = true;
    tls.pem_root_certs = ReadFile(a.options.at("tls-ca"), &ok);
    if (a.options.count("tls-cert")) tls.pem_cert_chain = ReadFile(a.options.at("tls-cert"), &ok);
    if (a.options.count("tls-key")) tls.pem_private_key = ReadFile(a.options.at("tls-key"), &ok);
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
  return Usage();
}
