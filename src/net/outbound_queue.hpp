// What a WebSocket peer has waiting to be written, and in which order: the write path of
// WsSession without the socket. Pure bookkeeping (no Asio, no clock), unit-tested on its own
// (tests/unit/outbound_queue_test.cpp); the session asks it for the next write and says when
// that write is done.
//
// What it holds, in the order next() hands it out (highest first):
//  1. the rest of an ordered group being written: its binaries follow its text back to back,
//     nothing may come between them;
//  2. the JPEG of a split-format frame whose meta was just written (same reason);
//  3. texts (status, chat, events), oldest first; at most Limits::max_texts, past that the
//     oldest is dropped (a client that does not read loses stale status, memory stays bounded);
//  4. ordered groups (worker jobs, batches, cancels: a text then binaries), in order, counted
//     in the SendBudget when sent; a send over the budget is refused and the peer is to be
//     dropped (it is not reading);
//  5. the close frame, once asked for: after the texts queued before it (so a final reason
//     reaches the client); asking drops the ordered groups and the frame, and nothing is
//     queued after it;
//  6. video units (a video viewer, `?video=h264`): a video::ViewerFeed, oldest first; a viewer
//     that falls behind skips to the next keyframe, so what waits stays bounded
//     (video::FeedLimits). Once a unit is queued the socket takes no more JPEG frames (below);
//  7. the newest replaceable frame: one slot, a newer frame replaces it (latest wins), so a
//     slow viewer holds at most the frame being written and the newest one.
// One write is in flight at a time; its buffers stay here until written() is called.
//
// Threads: push_frame, start_video, push_video, take_wake, admit_ordered and queued() may be
// called from any thread
// (the frame slot has its own lock, the budget is atomic); everything else only from the
// session's own loop.
#pragma once

#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "live/peer.hpp"
#include "net/send_budget.hpp"
#include "video/viewer_feed.hpp"

namespace ds::net {

// Outside OutboundQueue: a nested struct with member initializers cannot be a default argument.
struct OutboundLimits {
  // Status and chat text is small; past this many queued a client is not reading, and the
  // oldest are dropped rather than growing memory.
  std::size_t max_texts = 256;
  SendLimits ordered;
};

class OutboundQueue {
 public:
  using Limits = OutboundLimits;

  // One WebSocket message to write, or the close frame.
  struct Write {
    enum class Kind {
      kText,
      kBinary,
      kFrame,  // inline format: one binary message, prefix + meta + JPEG (docs/protocol.md);
               // a video unit goes out the same way, its header as meta, the unit as jpeg
      kClose,
    };
    Kind kind = Kind::kText;
    live::Bytes data;      // kText, kBinary: the message; kFrame: the meta (may be null)
    live::Bytes jpeg;      // kFrame
    bool counted = false;  // part of an ordered group: in the budget until written
  };

  explicit OutboundQueue(Limits limits = {})
      : budget_(limits.ordered), max_texts_(limits.max_texts) {}

  // Replaceable frames as one inline binary message each instead of a text then a binary.
  void set_inline_frames(bool on) { inline_frames_ = on; }

  // --- any thread ---
  // The newest replaceable frame, replacing one still waiting. True when the owner is to be
  // woken: no wake-up is pending yet (take_wake clears it). Ignored after close or clear.
  bool push_frame(live::Bytes meta, live::Bytes jpeg);
  // A video viewer: the GOP so far, then each unit (live::Peer::start_video, send_video).
  // True when the owner is to be woken, as push_frame. From the first unit queued on, JPEG
  // frames are refused (the one waiting is dropped): the viewer watches the video.
  bool start_video(std::vector<video::Delivery> gop, video::FeedLimits limits = {});
  bool push_video(const video::UnitPtr& unit);
  // Video units dropped for this viewer (it fell behind, or joined between keyframes).
  std::int64_t video_dropped() const;
  // The wake-up asked for by push_frame has come: the next push_frame asks again.
  void take_wake();
  // Counts an ordered group in the budget before it travels to the owner's loop, so senders
  // see at once what is queued. False when over the budget: nothing is counted and the peer
  // is to be dropped.
  bool admit_ordered(const live::Bytes& text, const std::vector<live::Bytes>& binaries);
  // Ordered messages and bytes counted and not yet written.
  live::Peer::Queued queued() const { return {budget_.messages(), budget_.bytes()}; }

  // --- the owner's loop ---
  // False (and nothing queued) once closing.
  bool push_text(live::Bytes text);
  // A group admitted by admit_ordered. False, and released from the budget, once closing or
  // when empty.
  bool push_ordered(live::Bytes text, std::vector<live::Bytes> binaries);
  // Asks for the close frame after the queued texts. False when already closing.
  bool close(int code, std::string reason);
  bool closing() const { return close_.has_value(); }
  // What close() asked for (for a kClose write); only while closing().
  int close_code() const { return close_->first; }
  const std::string& close_reason() const { return close_->second; }
  // Starts the next write and returns it (valid until written()), or nullptr when a write is
  // in flight or nothing waits. After the close frame, nothing more.
  const Write* next();
  // The write from next() is done (or failed): its ordered message leaves the budget.
  void written();
  bool writing() const { return in_flight_.has_value(); }
  // The connection is gone: lets go of everything queued (the write in flight stays until
  // written(), its buffers may still be in use) and refuses later pushes.
  void clear();

  // The ordered bound and the write deadline (the session times its writes with it).
  SendBudget& budget() { return budget_; }
  const SendBudget& budget() const { return budget_; }
  std::size_t texts_waiting() const { return texts_.size(); }

 private:
  struct Group {
    live::Bytes text;
    std::vector<live::Bytes> binaries;
  };
  struct Frame {
    live::Bytes meta;
    live::Bytes jpeg;
  };

  std::optional<Frame> take_frame();
  std::optional<video::Delivery> take_video();
  bool wake_locked();  // under frame_mutex_
  void drop_frame();
  void release_ordered();

  SendBudget budget_;
  std::size_t max_texts_;
  bool inline_frames_ = false;
  // Lists, not deques: an empty std::deque still holds a 512-byte block, and most viewers
  // have nothing queued most of the time (memory per idle viewer, docs/performance.md).
  std::list<live::Bytes> texts_;
  std::list<Group> groups_;
  std::list<live::Bytes> tail_;  // binaries of the group whose text is being written
  live::Bytes frame_jpeg_;       // split format: the JPEG after the meta being written
  std::optional<std::pair<int, std::string>> close_;
  bool close_taken_ = false;
  bool cleared_ = false;
  std::optional<Write> in_flight_;
  // The replaceable slot, filled on the sender's thread: a frame costs no allocation per
  // viewer.
  mutable std::mutex frame_mutex_;
  std::optional<Frame> latest_;
  std::optional<video::ViewerFeed> video_;  // a video viewer's units
  bool video_started_ = false;              // a unit was queued: no more JPEG frames
  bool wake_pending_ = false;
  bool frames_refused_ = false;
};

}  // namespace ds::net
