// How many event loops (io threads) the server runs: by default one per CPU the process may run
// on, so a server pinned to a few cores (taskset, a container's cpuset) does not run a loop per
// core of the whole machine, time-sliced on the few it has.
#pragma once

#include <cstddef>

namespace ds::net {

// requested (--io-threads) when not 0; otherwise one per usable CPU, at least 2.
std::size_t io_thread_count(std::size_t requested, std::size_t usable_cpus);

// The CPUs in the calling thread's affinity mask (sched_getaffinity); where that cannot be read,
// std::thread::hardware_concurrency. At least 1.
std::size_t usable_cpus();

}  // namespace ds::net
