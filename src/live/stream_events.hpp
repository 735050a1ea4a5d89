// A live stream's lifecycle as typed events: StreamService, the one place that decides a stream
// opens, ends or moves, posts them under the lock it decided with and delivers them after
// releasing it; subscribers (StyleService) keep their part of the stream (LiveStream::styles) in
// step with them instead of polling the hub.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "live/live_stream.hpp"
#include "live/stream_state.hpp"

namespace ds::live {

// The stream is open on this node: started here, or moved here from another node (moved_in:
// what the old home left open in the database, style requests included, goes on here). A move
// has no event type of its own on the new home: its subscribers do what they do on any open,
// which finds nothing left open for a fresh stream.
struct StreamOpened {
  std::string username;
  long long user_id = 0;
  long long session_id = 0;
  bool moved_in = false;
  LiveStreamPtr stream;  // the open stream (the hub's registry holds it too)
};

// The stream ended (on this node, or, for an orphan, a dead node's stream that this one ended).
struct StreamEnded {
  std::string username;
  long long user_id = 0;
  long long session_id = 0;
  EndReason reason = EndReason::kInterrupted;
  LiveStreamPtr stream;  // the stream that was open here; null for a dead node's stream
};

// The stream left this node without ending: the hub has handed it over (its viewers follow the
// new home) and the new home goes on with what the database holds. Subscribers let go of it
// without ending anything.
struct StreamMoving {
  std::string username;
  long long user_id = 0;
  long long session_id = 0;
  LiveStreamPtr stream;  // the stream that leaves
};

using StreamEvent = std::variant<StreamOpened, StreamEnded, StreamMoving>;

// Delivers stream events to subscribers: in the order they were posted for one user's stream
// (Opened before its Ended or Moving), streams independently of one another, and never under the
// lock of whoever posted. The generalisation of the hub's Outbox for the services: decide under
// the lock (post), act after it (deliver).
//
// Threads: post and deliver from any thread. A subscriber runs on the thread that delivers,
// with no StreamService lock held; it must not block for long on another stream's work (one
// stream's slow subscriber delays only that stream's later events). A subscriber that calls
// back into the service posting the events is safe: its own stream's events are then delivered
// by the loop already running on its thread, after it returns.
class StreamEvents {
 public:
  using Subscriber = std::function<void(const StreamEvent&)>;

  // Before serving (not thread-safe against post/deliver).
  void subscribe(Subscriber s) { subscribers_.push_back(std::move(s)); }

  // Under the lock that decided the change: the event takes its place in its stream's line.
  // Returns the ticket deliver waits for.
  std::uint64_t post(long long user_id, StreamEvent e);
  // With no lock held: returns once every event of user_id's line up to ticket has reached every
  // subscriber, delivering them on this thread unless another thread is already at it.
  void deliver(long long user_id, std::uint64_t ticket);

 private:
  struct Line {
    std::deque<std::pair<std::uint64_t, StreamEvent>> queue;
    std::uint64_t delivered = 0;  // the ticket of the last event delivered
    bool delivering = false;
    int waiters = 0;
  };
  std::vector<Subscriber> subscribers_;
  std::mutex mutex_;  // a leaf: nothing is called while it is held
  std::condition_variable delivered_;
  std::uint64_t next_ticket_ = 1;
  std::unordered_map<long long, Line> lines_;  // by user id; only while events are in flight
};

const std::string& username_of(const StreamEvent& e);

}  // namespace ds::live
