#ifndef DOCSHARE_COMMON_CPUS_H_
#define DOCSHARE_COMMON_CPUS_H_

// How many CPUs this process may use: what `--render-workers=0` starts. In a
// container std::thread::hardware_concurrency() counts the node's cores, not the
// CPU limit (with --cpus=1 on 2 cores it said 2; on a 64-core node, 64 workers).

#include <optional>
#include <string>

namespace docshare {

// Where the kernel publishes the limits; tests point these at files they wrote.
struct CpuLimitFiles {
  std::string proc_self_cgroup = "/proc/self/cgroup";
  std::string cgroup_root = "/sys/fs/cgroup";
};

// The CPU quota of the process' cgroup and its ancestors, in CPUs (cgroup v2
// cpu.max "QUOTA PERIOD", or v1 cpu.cfs_quota_us / cpu.cfs_period_us), the
// smallest one found; nullopt when there is none ("max", -1, or no files).
std::optional<double> CgroupCpuQuota(const CpuLimitFiles& files);

// CPUs in the process' affinity mask (sched_getaffinity); nullopt if unknown.
std::optional<int> AffinityCpus();

// min(affinity, quota rounded up), at least 1; falls back to
// hardware_concurrency when neither is known.
int UsableCpus(const CpuLimitFiles& files = {});

}  // namespace docshare

#endif  // DOCSHARE_COMMON_CPUS_H_
