#ifndef DOCSHARE_TESTS_INTEGRATION_HARNESS_H_
#define DOCSHARE_TESTS_INTEGRATION_HARNESS_H_

// A real docshare server (App) on 127.0.0.1:0 and real gRPC clients.

#include <map>
#include <sstream>
#include <memory>
#include <string>
#include <vector>

#include "docshare/v1/docshare.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "service/common/clock.h"
#include "service/common/log.h"
#include "service/common/observer.h"
#include "service/config/config.h"
#include "service/transport/app.h"

namespace docshare::testing {

inline constexpr char kAdminToken[] = "admin-token-for-tests";

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

  void SetUp() override;
  void TearDown() override;

  std::shared_ptr<grpc::Channel> NewChannel(bool no_bdp = false) const;

  v1::StartSessionResponse StartSession(const std::string& id, uint32_t ttl = 0,
                                        bool consumer_may_share = false);
  grpc::Status TryStartSession(const std::string& token, const v1::StartSessionRequest& req,
                               v1::StartSessionResponse* resp);
  grpc::Status EndSession(const std::string& token, const std::string& id,
                          v1::EndSessionResponse* resp = nullptr);
  ShareResult Share(const std::string& token, const std::string& session_id,
                    const std::string& bytes, const ShareOptions& options = {});
  grpc::Status Check(const std::string& token, const std::string& head,
                     v1::CheckFileResponse* resp);

  // Reads events until the stream ends; returns its status.
  grpc::Status WatchAll(const std::string& token, const std::string& id, uint64_t after,
                        std::vector<v1::SessionEvent>* events,
                        std::multimap<std::string, std::string>* trailers = nullptr);

  // Reads `n` events of a live stream, then cancels it.
  std::vector<v1::SessionEvent> ReadEvents(const std::string& token, const std::string& id,
                                           uint64_t after, size_t n);

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

// Trailing metadata as plain strings.
std::multimap<std::string, std::string> Trailers(const grpc::ClientContext& context);

}  // namespace docshare::testing

#endif  // DOCSHARE_TESTS_INTEGRATION_HARNESS_H_
