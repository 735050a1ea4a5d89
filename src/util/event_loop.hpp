// Which threads may wait on I/O. The server's event loops (io threads) must never wait on the
// database or Redis: one such wait stalls every connection on that loop. Each place that waits
// (a pooled database connection, a Redis reply, a call to another node) calls note_wait first;
// on an event loop it logs event=wait_on_event_loop at error level and counts it. The
// integration harness fails a test whose server logged one (tests/integration/harness.py).
#pragma once

#include <cstdint>

namespace ds::event_loop {

// Marks the calling thread as an event loop for this scope (net::Server's loops).
class Scope {
 public:
  Scope();
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  bool was_;
};

bool on_event_loop();
// what: the wait about to happen ("database", "redis", "node_call").
void note_wait(const char* what);
// Waits noted on an event loop since the process started.
std::uint64_t waits_on_event_loop();

}  // namespace ds::event_loop
