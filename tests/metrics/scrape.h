#ifndef DOCSHARE_TESTS_METRICS_SCRAPE_H_
#define DOCSHARE_TESTS_METRICS_SCRAPE_H_

// Test helpers: read a series back from a Collectable, and a minimal HTTP/1.0
// client over a real socket (the way Prometheus and kubelet probes reach the
// process), and promtool's verdict on an exposition.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace docshare::testing {

using LabelMap = std::map<std::string, std::string>;

// The series of family `name` with exactly `labels`, or nullptr.
inline const prometheus::ClientMetric* FindSeries(
    const std::vector<prometheus::MetricFamily>& families, const std::string& name,
    const LabelMap& labels = {}) {
  for (const prometheus::MetricFamily& family : families) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      LabelMap have;
      for (const auto& label : metric.label) have[label.name] = label.value;
      if (have == labels) return &metric;
    }
  }
  return nullptr;
}

// A counter's or gauge's value, or a histogram's sample count; nullopt when
// the series does not exist.
inline std::optional<double> Value(const prometheus::Collectable& collectable,
                                   const std::string& name, const LabelMap& labels = {}) {
  const std::vector<prometheus::MetricFamily> families = collectable.Collect();
  const prometheus::ClientMetric* m = FindSeries(families, name, labels);
  if (m == nullptr) return std::nullopt;
  for (const prometheus::MetricFamily& family : families) {
    if (family.name != name) continue;
    switch (family.type) {
      case prometheus::MetricType::Counter:
        return m->counter.value;
      case prometheus::MetricType::Gauge:
        return m->gauge.value;
      case prometheus::MetricType::Histogram:
        return static_cast<double>(m->histogram.sample_count);
      default:
        return m->untyped.value;
    }
  }
  return std::nullopt;
}

inline std::optional<double> HistogramSum(const prometheus::Collectable& collectable,
                                          const std::string& name,
                                          const LabelMap& labels = {}) {
  const std::vector<prometheus::MetricFamily> families = collectable.Collect();
  const prometheus::ClientMetric* m = FindSeries(families, name, labels);
  if (m == nullptr) return std::nullopt;
  return m->histogram.sample_sum;
}

struct HttpResponse {
  int status = 0;  // 0: no answer
  std::string headers;
  std::string body;
};

// A connected TCP socket to `host` ("127.0.0.1" or "::1") on `port`, with a
// 10 s receive timeout; -1 when the connection is refused.
inline int ConnectTo(const std::string& host, int port) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    length = sizeof(*v4);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    length = sizeof(*v6);
  } else {
    return -1;
  }
  const int fd = socket(storage.ss_family, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (connect(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// One request to `host`:`port`; reads until the server closes.
inline HttpResponse HttpRequest(int port, const std::string& method,
                                const std::string& path,
                                const std::string& host = "127.0.0.1") {
  HttpResponse response;
  const int fd = ConnectTo(host, port);
  if (fd < 0) return response;
  const std::string request =
      method + " " + path + " HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    return response;
  }
  std::string raw;
  char buf[16384];
  for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) raw.append(buf, n);
  close(fd);
  const size_t end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || end == std::string::npos) return response;
  response.status = std::stoi(raw.substr(9, 3));
  response.headers = raw.substr(0, end);
  response.body = raw.substr(end + 4);
  return response;
}

inline HttpResponse HttpGet(int port, const std::string& path) {
  return HttpRequest(port, "GET", path);
}

inline constexpr char kPromtool[] = "/usr/bin/promtool";

// `promtool check metrics` on `exposition`: its exit status and output.
inline std::pair<int, std::string> PromtoolCheckMetrics(const std::string& exposition) {
  const std::filesystem::path file =
      std::filesystem::temp_directory_path() /
      ("docshare-metrics-" + std::to_string(getpid()) + ".txt");
  std::ofstream(file) << exposition;
  const std::string command =
      std::string(kPromtool) + " check metrics < " + file.string() + " 2>&1";
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), pipe)) > 0;) output.append(buf, n);
  const int status = pclose(pipe);
  std::filesystem::remove(file);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

}  // namespace docshare::testing

#endif  // DOCSHARE_TESTS_METRICS_SCRAPE_H_
