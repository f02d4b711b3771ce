// TLS and mTLS with certificates made by openssl in the test, and the
// server-side deadline for a stalled upload.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "tests/integration/harness.h"
#include "tests/support/files.h"

namespace docshare::testing {
namespace {

// A CA, a server certificate for 127.0.0.1 and a client certificate signed
// by the CA, and a client certificate of another CA.
class Certificates {
 public:
  Certificates() {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat("docshare-tls-", getpid(), "-", rand());
    std::filesystem::create_directories(dir_);
    const std::string d = dir_.string();
    const std::string script = absl::StrCat(
        "set -e; cd ", d, "\n",
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test-ca "
        "-keyout ca.key -out ca.pem 2>/dev/null\n",
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=other-ca "
        "-keyout other.key -out other.pem 2>/dev/null\n",
        "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext\n",
        "openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key "
        "-out server.csr 2>/dev/null\n",
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days "
        "1 "
        "-extfile san.ext -out server.pem 2>/dev/null\n",
        "openssl req -newkey rsa:2048 -nodes -subj /CN=client -keyout client.key "
        "-out client.csr 2>/dev/null\n",
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days "
        "1 "
        "-out client.pem 2>/dev/null\n",
        "openssl req -newkey rsa:2048 -nodes -subj /CN=intruder -keyout intruder.key "
        "-out intruder.csr 2>/dev/null\n",
        "openssl x509 -req -in intruder.csr -CA other.pem -CAkey other.key "
        "-CAcreateserial "
        "-days 1 -out intruder.pem 2>/dev/null\n");
    ok_ = std::system(("bash -c '" + Escape(script) + "'").c_str()) == 0;
  }
  ~Certificates() { std::filesystem::remove_all(dir_); }
  bool ok() const { return ok_; }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string read(const std::string& name) const { return ReadFile(dir_ / name); }

 private:
  static std::string Escape(const std::string& s) {
    std::string out;
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out;
  }
  std::filesystem::path dir_;
  bool ok_ = false;
};

Certificates& Certs() {
  static auto* certs = new Certificates();
  return *certs;
}

class TlsTest : public ServerTest {
 protected:
  void Configure(Config& config) override {
    ASSERT_TRUE(Certs().ok()) << "openssl could not make the test certificates";
    config.tls_cert = Certs().path("server.pem");
    config.tls_key = Certs().path("server.key");
  }
  // StartSession over a channel with these credentials.
  grpc::Status Call(std::shared_ptr<grpc::ChannelCredentials> credentials) {
    auto channel =
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", app_->grpc_port()), credentials);
    auto stub = v1::SessionService::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ctx.AddMetadata("authorization", std::string("Bearer ") + kAdminToken);
    v1::StartSessionRequest req;
    req.set_session_id("tls");
    v1::StartSessionResponse resp;
    return stub->StartSession(&ctx, req, &resp);
  }
  std::shared_ptr<grpc::ChannelCredentials> Tls(const std::string& client = "") {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = Certs().read("ca.pem");
    if (!client.empty()) {
      options.pem_cert_chain = Certs().read(client + ".pem");
      options.pem_private_key = Certs().read(client + ".key");
    }
    return grpc::SslCredentials(options);
  }
};

TEST_F(TlsTest, ServesTlsAndRefusesPlaintext) {
  grpc::Status tls = Call(Tls());
  EXPECT_TRUE(tls.ok()) << tls.error_message();
  EXPECT_EQ(Call(grpc::InsecureChannelCredentials()).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

class MtlsTest : public TlsTest {
 protected:
  void Configure(Config& config) override {
    TlsTest::Configure(config);
    config.tls_client_ca = Certs().path("ca.pem");
  }
};

TEST_F(MtlsTest, RequiresAClientCertificateSignedByTheCa) {
  grpc::Status with_cert = Call(Tls("client"));
  EXPECT_TRUE(with_cert.ok()) << with_cert.error_message();
  EXPECT_EQ(Call(Tls()).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Call(Tls("intruder")).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST(TlsConfig, UnreadableFilesFailTheStart) {
  Config config;
  config.grpc_address = "127.0.0.1:0";
  config.http_address = "127.0.0.1:0";
  config.tls_cert = "/nonexistent/cert.pem";
  config.tls_key = "/nonexistent/key.pem";
  FakeClock clock;
  NullObserver observer;
  std::ostringstream sink;
  Logger log(LogLevel::kError, &sink);
  App app(config, clock, observer, log);
  absl::Status started = app.Start();
  EXPECT_EQ(started.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(started.message()).find("/nonexistent/cert.pem"),
            std::string::npos);
}

class SlowUpload : public ServerTest {
 protected:
  // The follow-up share must fit in it too, under TSan with another test
  // running beside it (1 s did not, once).
  void Configure(Config& config) override { config.upload_timeout = absl::Seconds(3); }
};

TEST_F(SlowUpload, AStalledUploadIsCutOff) {
  v1::StartSessionResponse s = StartSession("slowloris");
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + s.agent_token());
  v1::ShareDocumentResponse resp;
  auto writer = documents_->ShareDocument(&ctx, &resp);
  v1::ShareDocumentRequest msg;
  msg.mutable_header()->set_session_id("slowloris");
  msg.mutable_header()->set_size_bytes(1 << 20);
  ASSERT_TRUE(writer->Write(msg));
  msg.set_chunk(std::string(100, 'x'));
  writer->Write(msg);
  // ... and nothing more: the server ends it.
  grpc::Status status = writer->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << status.error_message();
  EXPECT_EQ(ErrorInfoOf(status).reason(), "UPLOAD_TIMEOUT");
  EXPECT_NE(log_stream_.str().find("\"event\":\"upload_timeout\""), std::string::npos);
  // The server is still serving.
  ShareResult next =
      Share(s.agent_token(), "slowloris", ReadFile(CorpusPath("sharp/320x240.jpg")));
  EXPECT_TRUE(next.status.ok()) << next.status.error_message();
}

}  // namespace
}  // namespace docshare::testing
