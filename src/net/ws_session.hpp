// A WebSocket connection the live layer can send to: one write in flight, bounded queues,
// frames latest-wins. Role logic (ingest, watch, worker) plugs in through Handlers.
#pragma once

#include <boost/beast/websocket.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "live/peer.hpp"
#include "net/server.hpp"

namespace ds::net {

class WsSession : public live::Peer, public std::enable_shared_from_this<WsSession> {
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
  };

  WsSession(Connection&& conn, Limits limits);
  ~WsSession() override;

  // Completes the upgrade, then calls on_open and starts reading.
  void accept(HttpRequest&& req, Handlers handlers);

  void send_text(live::Bytes text) override;
  void send_frame(live::Bytes meta, live::Bytes jpeg, bool replaceable) override;
  void send_ordered(live::Bytes text, std::vector<live::Bytes> binaries) override;
  // Flushes queued text (so a final reason reaches the client), then closes.
  void close(int code, std::string reason) override;
  using Peer::close;

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
  };

  void on_accept(beast::error_code ec);
  void do_read();
  void on_read(beast::error_code ec, std::size_t bytes);
  void enqueue_text(live::Bytes text);
  void enqueue_frame(Pair pair);
  void enqueue_group(Group group);
  void do_write();
  void on_write(beast::error_code ec, std::size_t bytes);
  void closed();

  ConnectionSlot slot_;
  beast::websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  Handlers handlers_;
  std::deque<live::Bytes> texts_;
  std::deque<Group> groups_;      // not replaceable, in order (worker jobs, batches, cancels)
  std::optional<Pair> latest_;    // replaceable: the newest frame only
  std::deque<live::Bytes> tail_;  // binaries that follow the text being written
  std::optional<Out> writing_;
  std::optional<std::pair<int, std::string>> close_pending_;
  bool open_ = false;
  bool closed_ = false;
};

}  // namespace ds::net
