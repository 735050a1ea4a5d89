// A WebSocket connection the live layer can send to: one write in flight, bounded queues,
// frames latest-wins (what waits and in which order: net/outbound_queue.hpp), a deadline on
// each write. Role logic (ingest, watch, worker) plugs in
// through Handlers.
#pragma once

#include <array>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/websocket.hpp>
#include <functional>
#include <memory>
#include <string>

#include "live/peer.hpp"
#include "net/frame_stream.hpp"
#include "net/outbound_queue.hpp"
#include "net/ready_queue.hpp"
#include "net/server.hpp"

namespace ds::net {

class WsSession : public live::Peer, public Ready, public std::enable_shared_from_this<WsSession> {
 public:
  struct Handlers {
    std::function<void(WsSession&)> on_open;
    std::function<void(WsSession&, bool binary, std::string&& data)> on_message;
    std::function<void(WsSession&)> on_closed;
  };

  struct Limits {
    std::size_t max_message_bytes = 4096;
    std::chrono::milliseconds idle_timeout{60'000};
    std::chrono::seconds handshake_timeout{10};
    // Ordered messages (worker jobs) queued and not yet written, and how long one write may
    // take: a peer over either bound, or whose write is not done in time, is dropped (1008).
    SendBudget::Limits queue;
  };

  WsSession(Connection&& conn, Limits limits);
  ~WsSession() override;

  // Completes the upgrade, then calls on_open and starts reading.
  void accept(HttpRequest&& req, Handlers handlers);
  // Replaceable frames go out as one binary message each, the metadata in front of the JPEG
  // (docs/protocol.md, "Inline frames"), instead of a text then a binary. Set before accept.
  void set_inline_frames(bool on) { queue_.set_inline_frames(on); }
  // No pictures at all (`?frames=none`: a page that plays HLS and wants only the events):
  // replaceable frames and video units are dropped here. Set before accept.
  void set_pictures(bool on) { pictures_ = on; }
  // Strict-Transport-Security on the handshake response (net/server.hpp wants_hsts). Set
  // before accept.
  void set_hsts(bool on);

  void send_text(live::Bytes text) override;
  void send_frame(live::Bytes meta, live::Bytes jpeg, bool replaceable) override;
  void send_ordered(live::Bytes text, std::vector<live::Bytes> binaries) override;
  // A video viewer's units (live/video_hub.hpp), inline like frames (docs/protocol.md).
  void start_video(std::vector<video::Delivery> gop) override;
  void send_video(const video::UnitPtr& unit) override;
  // Flushes queued text (so a final reason reaches the client), then closes.
  void close(int code, std::string reason) override;
  using Peer::close;
  // The code of the client's close frame; 0 while it sent none (open, dropped, or we closed).
  int peer_close_code() const { return peer_close_code_; }
  // A frame is waiting (see send_frame).
  void on_ready() override;
  Queued queued() const override { return queue_.queued(); }

 private:
  void on_accept(beast::error_code ec);
  void do_read();
  void on_read(beast::error_code ec, std::size_t bytes);
  void enqueue_text(live::Bytes text);
  void enqueue_group(live::Bytes text, std::vector<live::Bytes> binaries);
  void do_write();
  void write_inline(const OutboundQueue::Write& frame);
  void on_write(beast::error_code ec, std::size_t bytes);
  // Close frame after the queued text (the close itself is written by do_write).
  void begin_close(int code, std::string reason);
  // A write starts: it must be done by the budget's deadline (checked by write_timer_, which
  // runs only while writes do, once per timeout at most).
  void watch_write();
  void arm_write_watch(std::int64_t due_ms);
  void on_write_watch(beast::error_code ec);
  // Ends a peer that does not read (1008): a close frame when nothing is half written,
  // otherwise the socket is reset, since no close frame can follow half a message.
  void drop(const char* why, bool gracefully);
  void closed();

  ConnectionSlot slot_;
  beast::websocket::stream<FrameStream> ws_;
  beast::flat_buffer buffer_;
  Handlers handlers_;
  // What is waiting to be written, in which order (net/outbound_queue.hpp). Replaceable
  // frames are put there on the caller's thread, so a frame costs no allocation per viewer;
  // the session is handed to its loop's ReadyQueue while no wake-up is pending (a viewer
  // behind just has its slot overwritten), and the loop wakes once for all of its viewers.
  OutboundQueue queue_;
  ReadyQueue& ready_;
  asio::steady_timer write_timer_;
  bool write_watch_armed_ = false;
  // Inline format: the frame being written (its length prefix, meta and JPEG, gathered).
  std::array<unsigned char, 4> inline_prefix_{};
  std::array<unsigned char, 10> frame_header_{};  // written by us, not Beast (write_now)
  bool open_ = false;
  bool closed_ = false;
  int peer_close_code_ = 0;
  bool pictures_ = true;
};

}  // namespace ds::net
