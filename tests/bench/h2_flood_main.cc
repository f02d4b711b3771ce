// docshare-h2-flood: a bounded HTTP/2 flood against a loopback docshare
// (issue 12, attack 1), for the README's figures.
//   docshare-h2-flood PORT continuation|rapid-reset CONNECTIONS SECONDS [SERVER_PID]
// Prints bytes sent per connection, a gRPC health check (the kubelet's 2 s
// deadline) right after the flood and, with SERVER_PID, the server's RSS
// before, right after, and 5 s after it.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "tests/support/h2_flood.h"

namespace {

// grpc.health.v1 Check on a new connection, 2 s deadline: "SERVING in N ms"
// or the error.
std::string HealthAfter(int port) {
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                     grpc::InsecureChannelCredentials());
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  const absl::Time start = absl::Now();
  const grpc::Status s = stub->Check(&ctx, req, &resp);
  const double ms = absl::ToDoubleMilliseconds(absl::Now() - start);
  char buf[160];
  if (!s.ok()) {
    std::snprintf(
        buf, sizeof buf, "%s after %.0f ms",
        s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ? "timed out" : "failed",
        ms);
  } else {
    std::snprintf(
        buf, sizeof buf, "%s in %.0f ms",
        grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status()).c_str(),
        ms);
  }
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace docshare::testing;
  if (argc < 5) {
    std::fprintf(stderr,
                 "usage: %s PORT continuation|rapid-reset CONNECTIONS SECONDS [PID]\n",
                 argv[0]);
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const H2Flood kind = std::string(argv[2]) == "rapid-reset" ? H2Flood::kRapidReset
                                                             : H2Flood::kContinuation;
  const int connections = std::atoi(argv[3]);
  const absl::Duration seconds = absl::Seconds(std::atof(argv[4]));
  const int pid = argc > 5 ? std::atoi(argv[5]) : 0;
  auto rss_mb = [&] { return pid ? ResidentBytes(pid) / 1e6 : 0.0; };
  const double before = rss_mb();
  std::vector<H2FloodResult> results(connections);
  std::vector<std::thread> threads;
  for (int i = 0; i < connections; ++i) {
    threads.emplace_back(
        [&, i] { results[i] = FloodOnce(port, kind, seconds, uint64_t{4} << 30); });
  }
  for (auto& t : threads) t.join();
  const double after = rss_mb();
  for (int i = 0; i < connections; ++i) {
    std::printf("connection %d: %.1f MB sent, %llu frames, %s\n", i,
                results[i].bytes_sent / 1e6,
                static_cast<unsigned long long>(results[i].frames_sent),
                results[i].closed_by_server ? "closed by the server"
                : results[i].stalled        ? "the server stopped reading"
                                            : "open until the end");
  }
  std::printf("health right after: %s\n", HealthAfter(port).c_str());
  if (pid) {
    std::this_thread::sleep_for(std::chrono::seconds(5));  // a tool, not a test
    std::printf("server RSS: %.0f MB before, %.0f MB after, %.0f MB 5 s later\n", before,
                after, rss_mb());
  }
  return 0;
}
