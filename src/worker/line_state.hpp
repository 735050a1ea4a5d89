// Where a client's line to the server stands (`dreamstream push` to /ws/ingest, the worker to
// /ws/worker), and the one table of moves between those states. Pure (no socket, no clock), so
// the table is unit-tested on its own (tests/unit/worker_line_state_test.cpp); each client
// moves its Line through it and says why in its own code.
#pragma once

#include <functional>
#include <string_view>

namespace ds::worker {

enum class LineState {
  kConnecting,  // TCP connect and WebSocket upgrade under way
  kOpen,        // upgraded: messages flow both ways
  kClosing,     // we sent (or are sending) our close frame: nothing more is written
  kBackoff,     // the last connection (or attempt) ended; waiting a delay to connect again
  kClosed,      // for good: stopped, finished, refused, or gave up reconnecting
};

std::string_view to_string(LineState s);

// The moves that exist:
//   Connecting -> Open      the upgrade succeeded
//   Connecting -> Backoff   the attempt failed and another is worth it
//   Connecting -> Closed    the attempt failed for good, or stop() came while connecting
//   Open       -> Closing   we close (stop(), the sender is done, --max-jobs)
//   Open       -> Backoff   the connection was lost or closed by the server; reconnecting
//   Open       -> Closed    lost or closed for good
//   Closing    -> Closed    our close is done (or was cut off)
//   Backoff    -> Connecting  the delay is over
//   Backoff    -> Closed    stop() during the delay
bool is_allowed(LineState from, LineState to);

// A line's state. enter() makes a move of the table and tells the observer; a move outside the
// table is a programmer error (std::logic_error), so a state no code expects cannot arise.
class LineStateMachine {
 public:
  using Observer = std::function<void(LineState from, LineState to)>;

  explicit LineStateMachine(Observer observer = {}) : observer_(std::move(observer)) {}

  LineState state() const { return state_; }
  bool is(LineState s) const { return state_ == s; }
  void enter(LineState to);

 private:
  LineState state_ = LineState::kConnecting;
  Observer observer_;
};

}  // namespace ds::worker
