// What a connection may hold for a peer that reads slowly or not at all: the ordered messages
// queued for it (counted and weighed when sent, on any thread, released once written), and
// how long the write in progress may take. Pure bookkeeping with times passed in, so the rules
// are tested with a manual clock (tests/unit/send_budget_test.cpp); the session acts on them.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace ds::net {

// Outside SendBudget: a nested struct with member initializers cannot be a default argument.
struct SendLimits {
  std::size_t max_messages = 1024;
  std::size_t max_bytes = 64u << 20;
  std::int64_t write_timeout_ms = 10'000;  // 0: no deadline
};

class SendBudget {
 public:
  using Limits = SendLimits;

  explicit SendBudget(Limits limits = {}) : limits_(limits) {}

  const Limits& limits() const { return limits_; }

  // Counts messages weighing bytes as queued. False when that takes the queue over either
  // bound: they are then not counted, and the peer is to be dropped. Any thread.
  bool add(std::size_t messages, std::size_t bytes) {
    auto m = messages_.fetch_add(messages) + messages;
    auto b = bytes_.fetch_add(bytes) + bytes;
    if (m <= limits_.max_messages && b <= limits_.max_bytes) return true;
    release(messages, bytes);
    return false;
  }
  // Written, or dropped with the connection. Any thread.
  void release(std::size_t messages, std::size_t bytes) {
    messages_.fetch_sub(messages);
    bytes_.fetch_sub(bytes);
  }
  std::size_t messages() const { return messages_.load(std::memory_order_relaxed); }
  std::size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

  // The write deadline, on the connection's own thread: a write started at now_ms must have
  // finished by now_ms + write_timeout_ms.
  void write_started(std::int64_t now_ms) { write_started_ms_ = now_ms; }
  void write_finished() { write_started_ms_.reset(); }
  bool writing() const { return write_started_ms_.has_value(); }
  // When the write in progress is due (nullopt: none, or no deadline).
  std::optional<std::int64_t> write_due_ms() const {
    if (!write_started_ms_ || limits_.write_timeout_ms <= 0) return std::nullopt;
    return *write_started_ms_ + limits_.write_timeout_ms;
  }
  bool write_overdue(std::int64_t now_ms) const {
    auto due = write_due_ms();
    return due && now_ms >= *due;
  }

 private:
  Limits limits_;
  std::atomic<std::size_t> messages_{0};
  std::atomic<std::size_t> bytes_{0};
  std::optional<std::int64_t> write_started_ms_;
};

}  // namespace ds::net
