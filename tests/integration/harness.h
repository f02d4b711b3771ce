#ifndef DOCSHARE_TESTS_INTEGRATION_HARNESS_H_
#define DOCSHARE_TESTS_INTEGRATION_HARNESS_H_

// A real docshare server (App) on 127.0.0.1:0 and real gRPC clients.

#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "docshare/v1/docshare.grpc.pb.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "service/common/clock.h"
#include "service/common/log.h"
#include "service/common/observer.h"
#include "service/config/config.h"
#include "service/transport/app.h"

namespace docshare::testing {

inline constexpr char kAdminToken[] = "admin-token-for-tests-0123456789abcdef";

struct ShareResult {
  grpc::Status status;
  v1::ShareDocumentResponse response;
  std::multimap<std::string, std::string> trailers;
  std::string trailer(const std::string& key) const {
    auto it = trailers.find(key);
    return it == trailers.end() ? "<absent>" : it->second;
  }
};

struct ShareOptions {
  std::string filename = "photo.jpg";
  std::string declared_mime;
  uint64_t size_bytes = 0;  // 0: send the real size; use kUnknownSize for 0
  bool unknown_size = false;
  size_t chunk_bytes = 64 * 1024;
  bool send_header = true;
};

class ServerTest : public ::testing::Test {
 protected:
  // Override to change the server's config before it starts.
  virtual void Configure(Config& config) {}
  // What the App reports to (the harness' logs unless overridden).
  virtual Observer& AppObserver() { return observer_; }

  void SetUp() override;
  void TearDown() override;

  std::shared_ptr<grpc::Channel> NewChannel(bool no_bdp = false) const;

  v1::StartSessionResponse StartSession(const std::string& id, uint32_t ttl = 0,
                                        bool consumer_may_share = false);
  grpc::Status TryStartSession(const std::string& token,
                               const v1::StartSessionRequest& req,
                               v1::StartSessionResponse* resp);
  grpc::Status EndSession(const std::string& token, const std::string& id,
                          v1::EndSessionResponse* resp = nullptr);
  ShareResult Share(const std::string& token, const std::string& session_id,
                    const std::string& bytes, const ShareOptions& options = {});
  grpc::Status Check(const std::string& token, const std::string& head,
                     v1::CheckFileResponse* resp);

  // An upload left open after its header (and `first_chunk`, if any): it
  // holds what the server gave it until `Cancel`.
  struct OpenUpload {
    grpc::ClientContext ctx;
    v1::ShareDocumentResponse response;
    std::unique_ptr<grpc::ClientWriter<v1::ShareDocumentRequest>> writer;
    bool open = false;  // every message was written
    void Cancel() {
      ctx.TryCancel();
      writer->Finish();
    }
  };
  std::unique_ptr<OpenUpload> BeginUpload(const std::string& token,
                                          const std::string& session_id,
                                          uint64_t size_bytes,
                                          const std::string& first_chunk = "");

  // Reads events until the stream ends; returns its status.
  grpc::Status WatchAll(const std::string& token, const std::string& id, uint64_t after,
                        std::vector<v1::SessionEvent>* events,
                        std::multimap<std::string, std::string>* trailers = nullptr);

  // Reads `n` events of a live stream, then cancels it.
  std::vector<v1::SessionEvent> ReadEvents(const std::string& token,
                                           const std::string& id, uint64_t after,
                                           size_t n);

  FakeClock clock_;
  std::ostringstream log_stream_;
  Logger log_{LogLevel::kDebug, &log_stream_, &clock_};
  LogObserver observer_{log_};
  Config config_;
  std::unique_ptr<App> app_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::SessionService::Stub> sessions_;
  std::unique_ptr<v1::DocumentService::Stub> documents_;
};

// The backplane of a redis-server the test started on 127.0.0.1:`port`.
inline RedisBackplaneConfig LocalRedis(int port) {
  RedisBackplaneConfig redis;
  redis.host = "127.0.0.1";
  redis.port = port;
  return redis;
}

// Trailing metadata as plain strings.
std::multimap<std::string, std::string> Trailers(const grpc::ClientContext& context);

// The one google.rpc.ErrorInfo in a status' details (grpc-status-details-bin),
// after checking that the google.rpc.Status there repeats the status' code and
// message and that the domain is docshare.v1 (test failures otherwise).
google::rpc::ErrorInfo ErrorInfoOf(const grpc::Status& status);

}  // namespace docshare::testing

#endif  // DOCSHARE_TESTS_INTEGRATION_HARNESS_H_
