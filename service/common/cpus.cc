#include "service/common/cpus.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace docshare {
namespace {

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// "/a/b" -> {"/a/b", "/a", ""}: a limit on any ancestor applies too. The
// relative path may be absent from the mount (a container sees its own cgroup
// at the root), so the root is always a candidate.
std::vector<std::string> SelfAndAncestors(std::string path) {
  std::vector<std::string> out;
  while (!path.empty() && path != "/") {
    out.push_back(path);
    path.resize(path.rfind('/'));
  }
  out.push_back("");
  return out;
}

// cgroup v2 "QUOTA PERIOD" or "max PERIOD".
std::optional<double> ParseCpuMax(absl::string_view text) {
  std::vector<absl::string_view> parts =
      absl::StrSplit(absl::StripAsciiWhitespace(text), ' ', absl::SkipEmpty());
  double quota = 0, period = 0;
  if (parts.size() != 2 || !absl::SimpleAtod(parts[0], &quota) ||
      !absl::SimpleAtod(parts[1], &period) || quota <= 0 || period <= 0) {
    return std::nullopt;
  }
  return quota / period;
}

// cgroup v1: cpu.cfs_quota_us (-1: none) over cpu.cfs_period_us.
std::optional<double> ParseCfs(const std::string& dir) {
  std::optional<std::string> quota_text = ReadFile(dir + "/cpu.cfs_quota_us");
  std::optional<std::string> period_text = ReadFile(dir + "/cpu.cfs_period_us");
  double quota = 0, period = 0;
  if (!quota_text || !period_text ||
      !absl::SimpleAtod(absl::StripAsciiWhitespace(*quota_text), &quota) ||
      !absl::SimpleAtod(absl::StripAsciiWhitespace(*period_text), &period) ||
      quota <= 0 || period <= 0) {
    return std::nullopt;
  }
  return quota / period;
}

void KeepSmallest(std::optional<double>& best, std::optional<double> found) {
  if (found && (!best || *found < *best)) best = found;
}

}  // namespace

std::optional<double> CgroupCpuQuota(const CpuLimitFiles& files) {
  std::optional<std::string> self = ReadFile(files.proc_self_cgroup);
  if (!self) return std::nullopt;
  std::optional<double> best;
  // Lines are "ID:CONTROLLERS:PATH"; v2's single line is "0::PATH".
  for (absl::string_view line : absl::StrSplit(*self, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (fields.size() != 3) continue;
    const std::string path(fields[2]);
    if (fields[0] == "0" && fields[1].empty()) {
      for (const std::string& dir : SelfAndAncestors(path)) {
        std::optional<std::string> max = ReadFile(files.cgroup_root + dir + "/cpu.max");
        if (max) KeepSmallest(best, ParseCpuMax(*max));
      }
      continue;
    }
    std::vector<absl::string_view> controllers = absl::StrSplit(fields[1], ',');
    if (std::find(controllers.begin(), controllers.end(), absl::string_view("cpu")) ==
        controllers.end()) {
      continue;
    }
    // v1 mounts the controller as "cpu,cpuacct" (a "cpu" symlink usually too).
    for (const std::string mount :
         {files.cgroup_root + "/" + std::string(fields[1]), files.cgroup_root + "/cpu"}) {
      for (const std::string& dir : SelfAndAncestors(path)) {
        KeepSmallest(best, ParseCfs(mount + dir));
      }
    }
  }
  return best;
}

std::optional<int> AffinityCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return std::nullopt;
  const int count = CPU_COUNT(&set);
  return count > 0 ? std::optional<int>(count) : std::nullopt;
}

int UsableCpus(const CpuLimitFiles& files) {
  std::optional<int> cpus = AffinityCpus();
  if (std::optional<double> quota = CgroupCpuQuota(files)) {
    const int by_quota = std::max(1, static_cast<int>(std::ceil(*quota - 1e-9)));
    cpus = cpus ? std::min(*cpus, by_quota) : by_quota;
  }
  if (!cpus) cpus = static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, *cpus);
}

}  // namespace docshare
