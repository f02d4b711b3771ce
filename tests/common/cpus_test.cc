#include "service/common/cpus.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace docshare {
namespace {

namespace fs = std::filesystem;

// A fake /proc/self/cgroup and /sys/fs/cgroup in a temp dir.
class CgroupFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("docshare-cpus-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "sys");
    files_.proc_self_cgroup = (dir_ / "cgroup").string();
    files_.cgroup_root = (dir_ / "sys").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::string& relative, const std::string& text) {
    const fs::path path = dir_ / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }

  fs::path dir_;
  CpuLimitFiles files_;
};

TEST_F(CgroupFiles, V2QuotaOfTheProcessCgroup) {
  Write("cgroup", "0::/kubepods/pod1/ctr\n");
  Write("sys/kubepods/pod1/ctr/cpu.max", "150000 100000\n");
  EXPECT_DOUBLE_EQ(CgroupCpuQuota(files_).value(), 1.5);
}

TEST_F(CgroupFiles, V2UnlimitedIsNoQuota) {
  Write("cgroup", "0::/\n");
  Write("sys/cpu.max", "max 100000\n");
  EXPECT_FALSE(CgroupCpuQuota(files_).has_value());
}

TEST_F(CgroupFiles, V2SmallestAncestorWins) {
  Write("cgroup", "0::/a/b\n");
  Write("sys/a/b/cpu.max", "max 100000\n");
  Write("sys/a/cpu.max", "300000 100000\n");
  Write("sys/cpu.max", "max 100000\n");
  EXPECT_DOUBLE_EQ(CgroupCpuQuota(files_).value(), 3.0);
}

// A container with its own cgroup namespace-less view: the path names the
// host's hierarchy, but the container's cgroup is mounted at the root.
TEST_F(CgroupFiles, V2PathMissingFallsBackToTheRoot) {
  Write("cgroup", "0::/docker/0123abcd\n");
  Write("sys/cpu.max", "100000 100000\n");
  EXPECT_DOUBLE_EQ(CgroupCpuQuota(files_).value(), 1.0);
}

TEST_F(CgroupFiles, V1CfsQuota) {
  Write("cgroup", "12:memory:/docker/x\n4:cpu,cpuacct:/docker/x\n1:name=systemd:/\n");
  Write("sys/cpu,cpuacct/cpu.cfs_quota_us", "250000\n");
  Write("sys/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
  EXPECT_DOUBLE_EQ(CgroupCpuQuota(files_).value(), 2.5);
}

TEST_F(CgroupFiles, V1MinusOneIsNoQuota) {
  Write("cgroup", "4:cpu,cpuacct:/\n");
  Write("sys/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
  Write("sys/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
  EXPECT_FALSE(CgroupCpuQuota(files_).has_value());
}

TEST_F(CgroupFiles, GarbageAndMissingFilesAreNoQuota) {
  EXPECT_FALSE(CgroupCpuQuota(files_).has_value());  // no /proc/self/cgroup
  Write("cgroup", "0::/\nnonsense\n");
  Write("sys/cpu.max", "lots 100000\n");
  EXPECT_FALSE(CgroupCpuQuota(files_).has_value());
}

TEST_F(CgroupFiles, UsableCpusRoundsTheQuotaUpAndKeepsAffinityAsACap) {
  const int affinity = AffinityCpus().value();
  Write("cgroup", "0::/\n");
  Write("sys/cpu.max", "50000 100000\n");  // half a CPU: still one worker
  EXPECT_EQ(UsableCpus(files_), 1);
  Write("sys/cpu.max", "6400000 100000\n");  // 64 CPUs of quota: the mask wins
  EXPECT_EQ(UsableCpus(files_), affinity);
  Write("sys/cpu.max", "max 100000\n");
  EXPECT_EQ(UsableCpus(files_), affinity);
}

TEST(AffinityCpus, FollowsTheMask) {
  cpu_set_t saved;
  ASSERT_EQ(sched_getaffinity(0, sizeof(saved), &saved), 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &saved)) {
      CPU_SET(cpu, &one);
      break;
    }
  }
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
  EXPECT_EQ(AffinityCpus().value(), 1);
  EXPECT_EQ(UsableCpus(CpuLimitFiles{.proc_self_cgroup = "/nonexistent"}), 1);
  ASSERT_EQ(sched_setaffinity(0, sizeof(saved), &saved), 0);
  EXPECT_EQ(AffinityCpus().value(), CPU_COUNT(&saved));
}

}  // namespace
}  // namespace docshare
