#include "net/io_threads.hpp"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <thread>

namespace ds::net {

std::size_t io_thread_count(std::size_t requested, std::size_t usable_cpus) {
  if (requested != 0) return requested;
  return std::max<std::size_t>(2, usable_cpus);
}

std::size_t usable_cpus() {
  // A mask of the default size first; a machine with more CPUs than it holds (EINVAL) needs a
  // bigger one.
  for (int cpus = CPU_SETSIZE; cpus <= (1 << 16); cpus *= 2) {
    cpu_set_t* set = CPU_ALLOC(cpus);
    if (!set) break;
    auto size = CPU_ALLOC_SIZE(cpus);
    CPU_ZERO_S(size, set);
    int rc = sched_getaffinity(0, size, set);
    int error = rc == 0 ? 0 : errno;
    int count = rc == 0 ? CPU_COUNT_S(size, set) : 0;
    CPU_FREE(set);
    if (rc == 0 && count > 0) return static_cast<std::size_t>(count);
    if (error != EINVAL) break;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace ds::net
