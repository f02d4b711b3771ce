// process_* metrics: sane values from the real /proc/self, exact values from
// a fake procfs tree.
#include "service/metrics/process_collector.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/metrics/scrape.h"

namespace docshare::testing {
namespace {

namespace fs = std::filesystem;

TEST(ProcessCollector, ReportsThisProcess) {
  ProcessCollector collector;
  const std::optional<double> rss = Value(collector, "process_resident_memory_bytes");
  const std::optional<double> vsize = Value(collector, "process_virtual_memory_bytes");
  ASSERT_TRUE(rss && vsize);
  EXPECT_GT(*rss, 1 << 20) << "a gtest binary holds more than 1 MiB";
  EXPECT_GE(*vsize, *rss);

  const std::optional<double> start = Value(collector, "process_start_time_seconds");
  ASSERT_TRUE(start);
  const double now = absl::ToUnixSeconds(absl::Now());
  EXPECT_LE(*start, now + 1);
  EXPECT_GT(*start, now - 600) << "started within the last minutes, not at boot or 1970";

  const std::optional<double> cpu = Value(collector, "process_cpu_seconds_total");
  ASSERT_TRUE(cpu);
  EXPECT_GE(*cpu, 0);
  EXPECT_LT(*cpu, 3600);

  const std::optional<double> open = Value(collector, "process_open_fds");
  const std::optional<double> max = Value(collector, "process_max_fds");
  ASSERT_TRUE(open && max);
  EXPECT_GE(*open, 3) << "stdin, stdout, stderr";
  EXPECT_GT(*max, *open);
}

TEST(ProcessCollector, OpenFdsFollowsTheProcess) {
  ProcessCollector collector;
  const double before = *Value(collector, "process_open_fds");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  EXPECT_EQ(*Value(collector, "process_open_fds"), before + 2);
  close(fds[0]);
  close(fds[1]);
  EXPECT_EQ(*Value(collector, "process_open_fds"), before);
}

TEST(ProcessCollector, TypesAndHelpAreTheClientLibraries) {
  ProcessCollector collector;
  const auto families = collector.Collect();
  ASSERT_EQ(families.size(), 6u);
  for (const auto& family : families) {
    EXPECT_FALSE(family.help.empty()) << family.name;
    EXPECT_EQ(family.type, family.name == "process_cpu_seconds_total"
                               ? prometheus::MetricType::Counter
                               : prometheus::MetricType::Gauge)
        << family.name;
    ASSERT_EQ(family.metric.size(), 1u);
    EXPECT_TRUE(family.metric[0].label.empty());
  }
}

class FakeProc : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("fake-proc-" + std::to_string(getpid()));
    fs::create_directories(root_ / "self" / "fd");
    for (const char* fd : {"0", "1", "2", "7", "9"})
      std::ofstream(root_ / "self" / "fd" / fd);
    std::ofstream(root_ / "stat")
        << "cpu  1 2 3 4\nintr 5\nbtime 1700000000\nprocesses 9\n";
    std::ofstream(root_ / "self" / "limits")
        << "Limit                     Soft Limit           Hard Limit           Units\n"
           "Max cpu time              unlimited            unlimited            seconds\n"
           "Max open files            1024                 524288               files\n";
  }
  void TearDown() override { fs::remove_all(root_); }
  void WriteStat(const std::string& comm) {
    const long tick = sysconf(_SC_CLK_TCK);
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt
    // cmajflt utime stime cutime cstime priority nice threads itrealvalue
    // starttime vsize rss ...
    std::ofstream(root_ / "self" / "stat")
        << "4242 (" << comm << ") S 1 4242 4242 0 -1 4194560 100 0 0 0 " << 3 * tick
        << " " << tick / 2 << " 7 7 20 0 4 0 " << 90 * tick
        << " 123456789 1000 18446744073709551615"
        << " 1 1 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";
  }

  fs::path root_;
};

TEST_F(FakeProc, ParsesStatLimitsAndFds) {
  WriteStat("docshare-server");
  ProcessCollector collector(root_.string());
  EXPECT_DOUBLE_EQ(*Value(collector, "process_cpu_seconds_total"), 3.5)
      << "utime + stime, children excluded";
  EXPECT_EQ(*Value(collector, "process_virtual_memory_bytes"), 123456789);
  EXPECT_EQ(*Value(collector, "process_resident_memory_bytes"),
            1000.0 * sysconf(_SC_PAGESIZE));
  EXPECT_DOUBLE_EQ(*Value(collector, "process_start_time_seconds"), 1700000090);
  EXPECT_EQ(*Value(collector, "process_open_fds"), 5);
  EXPECT_EQ(*Value(collector, "process_max_fds"), 1024) << "the soft limit";
}

TEST_F(FakeProc, ACommandNameWithSpacesAndParenthesesDoesNotShiftFields) {
  WriteStat("a) b (c");
  ProcessCollector collector(root_.string());
  EXPECT_EQ(*Value(collector, "process_virtual_memory_bytes"), 123456789);
  EXPECT_DOUBLE_EQ(*Value(collector, "process_start_time_seconds"), 1700000090);
}

TEST_F(FakeProc, WhatCannotBeReadIsLeftOutNotInvented) {
  std::ofstream(root_ / "self" / "stat") << "4242 (truncated";
  fs::remove(root_ / "self" / "limits");
  ProcessCollector collector(root_.string());
  EXPECT_FALSE(Value(collector, "process_cpu_seconds_total"));
  EXPECT_FALSE(Value(collector, "process_resident_memory_bytes"));
  EXPECT_FALSE(Value(collector, "process_start_time_seconds"));
  EXPECT_FALSE(Value(collector, "process_max_fds"));
  EXPECT_EQ(Value(collector, "process_open_fds"), 5);
}

}  // namespace
}  // namespace docshare::testing
