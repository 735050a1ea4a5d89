// A WebSocket connection the live layer can send to: one write in flight, bounded queues,
// frames latest-wins, a deadline on each write. Role logic (ingest, watch, worker) plugs in
// through Handlers.
#pragma once

#include <array>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/websocket.hpp>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "live/peer.hpp"
#include "net/frame_stream.hpp"
#include "net/ready_queue.hpp"
#include "net/send_budget.hpp"
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
  void set_inline_frames(bool on) { inline_frames_ = on; }
  // Strict-Transport-Security on the handshake response (net/server.hpp wants_hsts). Set
  // before accept.
  void set_hsts(bool on);

  void send_text(live::Bytes text) override;
  void send_frame(live::Bytes meta, live::Bytes jpeg, bool replaceable) override;
  void send_ordered(live::Bytes text, std::vector<live::Bytes> binaries) override;
  // Flushes queued text (so a final reason reaches the client), then closes.
  void close(int code, std::string reason) override;
  using Peer::close;
  // The code of the client's close frame; 0 while it sent none (open, dropped, or we closed).
  int peer_close_code() const { return peer_close_code_; }
  // A frame is waiting (see send_frame).
  void on_ready() override;
  Queued queued() const override { return {budget_.messages(), budget_.bytes()}; }

 private:
  struct Pair {
    live::Bytes meta;
    live::Bytes jpeg;
  };
  // Ordered messages: a text then binaries, written back to back (worker jobs and batches).
  struct Group {
    live::Bytes text;
    std::vector<live::Bytes> binaries;
  };
  struct Out {
    live::Bytes data;
    bool binary = false;
    bool counted = false;  // part of an ordered group: in budget_ until written
  };

  void on_accept(beast::error_code ec);
  void do_read();
  void on_read(beast::error_code ec, std::size_t bytes);
  void enqueue_text(live::Bytes text);
  std::optional<Pair> take_frame();
  void drop_frame();
  void enqueue_group(Group group);
  void do_write();
  void write_inline(Pair frame);
  void on_write(beast::error_code ec, std::size_t bytes);
  // Close frame after the queued text (the close itself is written by do_write).
  void begin_close(int code, std::string reason);
  // The ordered messages still queued leave the budget.
  void release_queued();
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
  // Lists, not deques: an empty std::deque still holds a 512-byte block, and most viewers
  // have nothing queued most of the time (memory per idle viewer, docs/performance.md).
  std::list<live::Bytes> texts_;
  std::list<Group> groups_;      // not replaceable, in order (worker jobs, batches, cancels)
  std::list<live::Bytes> tail_;  // binaries that follow the text being written
  SendBudget budget_;            // groups_, tail_ and the one being written
  asio::steady_timer write_timer_;
  bool write_watch_armed_ = false;
  // Replaceable: the newest frame only. Filled by send_frame on the caller's thread under
  // frame_mutex_, so a frame costs no allocation per viewer; the session is handed to its
  // loop's ReadyQueue while no wake-up is pending (a viewer behind just has its slot
  // overwritten), and the loop wakes once for all of its viewers.
  ReadyQueue& ready_;
  std::mutex frame_mutex_;
  std::optional<Pair> latest_;
  bool frame_wake_pending_ = false;
  live::Bytes frame_jpeg_;  // split format: the JPEG that follows the meta being written
  std::optional<Out> writing_;
  // Inline format: the frame being written (its length prefix, meta and JPEG, gathered).
  bool inline_frames_ = false;
  std::array<unsigned char, 4> inline_prefix_{};
  std::array<unsigned char, 10> frame_header_{};  // written by us, not Beast (write_now)
  std::optional<Pair> writing_frame_;
  std::optional<std::pair<int, std::string>> close_pending_;
  bool open_ = false;
  bool closed_ = false;
  int peer_close_code_ = 0;
};

}  // namespace ds::net
