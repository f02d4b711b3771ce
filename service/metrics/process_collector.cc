#include "service/metrics/process_collector.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>

#include "prometheus/client_metric.h"
#include "prometheus/metric_type.h"

namespace docshare {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

std::optional<std::string> Slurp(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The fields of /proc/<pid>/stat that follow the ")" closing the command
// name (which may itself hold spaces and parentheses), numbered as in proc(5).
struct Stat {
  double utime_ticks = 0;  // (14)
  double stime_ticks = 0;  // (15)
  double start_ticks = 0;  // (22) since boot
  double vsize_bytes = 0;  // (23)
  double rss_pages = 0;    // (24)
};

std::optional<Stat> ParseStat(const std::string& text) {
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream in(text.substr(close + 1));
  std::vector<std::string> fields;  // fields[0] is (3) state
  for (std::string f; in >> f;) fields.push_back(f);
  auto field = [&](int n) { return std::strtod(fields[n - 3].c_str(), nullptr); };
  if (fields.size() < 24 - 3 + 1) return std::nullopt;
  return Stat{field(14), field(15), field(22), field(23), field(24)};
}

// "btime <seconds since the epoch>" from /proc/stat.
std::optional<double> BootTime(const std::string& text) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("btime ", 0) == 0) return std::strtod(line.c_str() + 6, nullptr);
  }
  return std::nullopt;
}

// The soft limit of "Max open files" in /proc/<pid>/limits.
std::optional<double> MaxOpenFiles(const std::string& text) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    constexpr std::string_view kRow = "Max open files";
    if (line.rfind(kRow, 0) != 0) continue;
    std::istringstream row(line.substr(kRow.size()));
    std::string soft;
    row >> soft;
    if (soft == "unlimited") return std::nullopt;
    return std::strtod(soft.c_str(), nullptr);
  }
  return std::nullopt;
}

std::optional<double> OpenFds(const std::string& dir) {
  std::error_code error;
  std::filesystem::directory_iterator it(dir, error);
  if (error) return std::nullopt;
  double n = 0;
  for (; it != std::filesystem::directory_iterator(); it.increment(error)) {
    if (error) return std::nullopt;
    ++n;
  }
  return n;
}

void Add(std::vector<MetricFamily>& out, const char* name, const char* help,
         MetricType type, double value) {
  ClientMetric m;
  if (type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  out.push_back(MetricFamily{name, help, type, {m}});
}

}  // namespace

ProcessCollector::ProcessCollector(std::string proc)
    : proc_(std::move(proc)),
      ticks_per_second_(sysconf(_SC_CLK_TCK)),
      page_size_(sysconf(_SC_PAGESIZE)) {}

std::vector<MetricFamily> ProcessCollector::Collect() const {
  std::vector<MetricFamily> out;
  const std::string self = proc_ + "/self";
  std::optional<std::string> stat_text = Slurp(self + "/stat");
  std::optional<Stat> stat = stat_text ? ParseStat(*stat_text) : std::nullopt;
  if (stat) {
    const double ticks = static_cast<double>(ticks_per_second_);
    Add(out, "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds.", MetricType::Counter,
        (stat->utime_ticks + stat->stime_ticks) / ticks);
    Add(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
        MetricType::Gauge, stat->vsize_bytes);
    Add(out, "process_resident_memory_bytes", "Resident memory size in bytes.",
        MetricType::Gauge, stat->rss_pages * static_cast<double>(page_size_));
    std::optional<std::string> system = Slurp(proc_ + "/stat");
    if (std::optional<double> boot = system ? BootTime(*system) : std::nullopt) {
      Add(out, "process_start_time_seconds",
          "Start time of the process since unix epoch in seconds.", MetricType::Gauge,
          *boot + stat->start_ticks / ticks);
    }
  }
  if (std::optional<double> fds = OpenFds(self + "/fd")) {
    Add(out, "process_open_fds", "Number of open file descriptors.", MetricType::Gauge,
        *fds);
  }
  std::optional<std::string> limits = Slurp(self + "/limits");
  if (std::optional<double> max = limits ? MaxOpenFiles(*limits) : std::nullopt) {
    Add(out, "process_max_fds", "Maximum number of open file descriptors.",
        MetricType::Gauge, *max);
  }
  return out;
}

}  // namespace docshare
