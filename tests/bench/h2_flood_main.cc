// docshare-h2-flood: a bounded HTTP/2 flood against a loopback docshare
// (issue 12, attack 1), for the README's figures.
//   docshare-h2-flood PORT continuation|rapid-reset CONNECTIONS SECONDS [SERVER_PID]
// Prints bytes sent per connection and, with SERVER_PID, the server's RSS
// before, right after, and 5 s after the flood.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/h2_flood.h"

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
  if (pid) {
    std::this_thread::sleep_for(std::chrono::seconds(5));  // a tool, not a test
    std::printf("server RSS: %.0f MB before, %.0f MB after, %.0f MB 5 s later\n", before,
                after, rss_mb());
  }
  return 0;
}
