// GET /u/<name>/stream.mjpeg: a multipart/x-mixed-replace response that never ends, fed by the
// hub like any viewer (one frame writing, the newest waiting).
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "live/peer.hpp"
#include "net/ready_queue.hpp"
#include "net/server.hpp"

namespace ds::net {

class MjpegSession : public live::Peer,
                     public Ready,
                     public std::enable_shared_from_this<MjpegSession> {
 public:
  // write_timeout: a reader that takes longer than this to accept one frame is dropped.
  MjpegSession(Connection&& conn, std::chrono::milliseconds write_timeout,
               std::function<void(MjpegSession&)> on_closed);

  // Register the session with the hub before start(): a client that is already gone then runs
  // on_closed after the registration, never before it.
  // hsts: Strict-Transport-Security on the response head (net/server.hpp wants_hsts).
  void start(unsigned http_version, bool hsts = false);

  void send_text(live::Bytes) override {}
  void send_frame(live::Bytes meta, live::Bytes jpeg, bool replaceable) override;
  void close(int code, std::string reason) override;
  // A frame is waiting (see send_frame).
  void on_ready() override;

 private:
  live::Bytes take_frame();
  void do_write();
  void on_write(beast::error_code ec, std::size_t bytes);
  void watch_for_disconnect();
  void closed();

  ConnectionSlot slot_;
  Stream stream_;
  asio::steady_timer write_deadline_;
  std::chrono::milliseconds write_timeout_;
  std::function<void(MjpegSession&)> on_closed_;
  std::string head_;
  std::string part_header_;
  live::Bytes writing_;
  // The newest frame only, filled by send_frame on the fanning thread under frame_mutex_; the
  // session is handed to its loop's ReadyQueue while no wake-up is pending, so the loop wakes
  // once for all of its viewers, as for WsSession.
  ReadyQueue& ready_;
  std::mutex frame_mutex_;
  live::Bytes latest_;
  bool frame_wake_pending_ = false;
  char read_byte_ = 0;
  bool started_ = false;
  bool closed_ = false;
};

}  // namespace ds::net
