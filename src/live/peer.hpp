// A connected party the live layer sends to (viewer, streamer, worker). Implemented by net's
// WebSocket and MJPEG sessions and by in-process workers; every method only queues and returns.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "live/protocol.hpp"
#include "video/gop_cache.hpp"

namespace ds::live {

class Peer {
 public:
  virtual ~Peer() = default;
  virtual void send_text(Bytes text) = 0;
  // A text header plus a binary JPEG, sent back to back. With replaceable set, a pair still
  // waiting to be sent is replaced by this one (latest wins), so at most two frames are held:
  // the one being written and the newest.
  virtual void send_frame(Bytes meta, Bytes jpeg, bool replaceable) = 0;
  // A text message then binary messages, written back to back and after every ordered message
  // queued before (worker jobs, batches and cancels: a cancel never overtakes its job). The
  // default suits peers that get at most one binary per message and no cancels.
  virtual void send_ordered(Bytes text, std::vector<Bytes> binaries) {
    if (binaries.empty()) return send_text(std::move(text));
    send_frame(std::move(text), std::move(binaries.front()), false);
  }
  virtual void close(int code, std::string reason) = 0;
  // Video viewers (live/video_hub.hpp): start_video once, with the GOP so far (catch-up units
  // marked decode-only; may be empty), then each unit of the stream's video. A socket keeps
  // them in a video::ViewerFeed (a slow viewer skips to the next keyframe). Peers that take
  // no video ignore them.
  virtual void start_video(std::vector<video::Delivery> /*gop*/) {}
  virtual void send_video(const video::UnitPtr& /*unit*/) {}
  // The ordered messages sent to it and not yet written to its socket: the hub gives no new
  // job to a worker with too many (live/hub.hpp, kWorkerQueueFull). Any thread.
  struct Queued {
    std::size_t messages = 0;
    std::size_t bytes = 0;
  };
  virtual Queued queued() const { return {}; }
  // The typed form every caller in the live layer uses.
  void close(wire::CloseCode code, std::string reason) {
    close(wire::code_value(code), std::move(reason));
  }
};

}  // namespace ds::live
