#include "util/event_loop.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <utility>

namespace ds::event_loop {

namespace {
thread_local bool t_on_loop = false;
std::atomic<std::uint64_t> g_waits{0};
}  // namespace

Scope::Scope() : was_(std::exchange(t_on_loop, true)) {}
Scope::~Scope() { t_on_loop = was_; }

bool on_event_loop() { return t_on_loop; }

void note_wait(const char* what) {
  if (!t_on_loop) return;
  g_waits.fetch_add(1, std::memory_order_relaxed);
  spdlog::error("event=wait_on_event_loop wait={}", what);
}

std::uint64_t waits_on_event_loop() { return g_waits.load(std::memory_order_relaxed); }

}  // namespace ds::event_loop
