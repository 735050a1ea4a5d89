// How many io threads serve runs (net/io_threads.hpp).
#include "net/io_threads.hpp"

#include <gtest/gtest.h>
#include <sched.h>

#include <thread>
#include <vector>

namespace ds::net {
namespace {

TEST(IoThreads, ByDefaultOnePerUsableCpuAndAtLeastTwo) {
  EXPECT_EQ(io_thread_count(0, 1), 2u);
  EXPECT_EQ(io_thread_count(0, 2), 2u);
  EXPECT_EQ(io_thread_count(0, 6), 6u);
}

TEST(IoThreads, AnExplicitCountWins) {
  EXPECT_EQ(io_thread_count(1, 8), 1u);
  EXPECT_EQ(io_thread_count(4, 1), 4u);
}

// Under a mask of one CPU (and of two, where the process has two), the usable count is the
// mask's, not the machine's. Run on a thread of its own, whose mask is restored after.
TEST(IoThreads, UsableCpusAreTheOnesInTheAffinityMask) {
  std::thread([] {
    cpu_set_t original;
    CPU_ZERO(&original);
    ASSERT_EQ(sched_getaffinity(0, sizeof original, &original), 0);
    EXPECT_EQ(usable_cpus(), static_cast<std::size_t>(CPU_COUNT(&original)));
    std::vector<int> allowed;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &original)) allowed.push_back(cpu);
    }
    ASSERT_FALSE(allowed.empty());
    cpu_set_t restricted;
    CPU_ZERO(&restricted);
    for (std::size_t n = 1; n <= std::min<std::size_t>(2, allowed.size()); ++n) {
      CPU_SET(allowed[n - 1], &restricted);
      ASSERT_EQ(sched_setaffinity(0, sizeof restricted, &restricted), 0);
      EXPECT_EQ(usable_cpus(), n);
    }
    EXPECT_EQ(io_thread_count(0, usable_cpus()), 2u);
    ASSERT_EQ(sched_setaffinity(0, sizeof original, &original), 0);
    EXPECT_EQ(usable_cpus(), static_cast<std::size_t>(CPU_COUNT(&original)));
  }).join();
}

}  // namespace
}  // namespace ds::net
