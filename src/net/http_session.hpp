// One HTTP/1.1 connection: reads requests, answers them (handlers on the blocking pool),
// keeps alive, or hands the socket to a WebSocket/streaming takeover.
#pragma once

#include <atomic>
#include <boost/beast/http.hpp>
#include <chrono>
#include <memory>
#include <optional>

#include "net/file_span_body.hpp"
#include "net/server.hpp"

namespace ds::net {

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(Socket&& socket, std::shared_ptr<SharedState> state, ConnectionSlot slot);
  void run();

 private:
  void do_read();
  void on_read_header(beast::error_code ec, std::size_t bytes);
  void on_read(beast::error_code ec, std::size_t bytes);
  void handle(HttpRequest&& req);
  // frame_ancestors: the sites that may frame this response (the embed page's list, else none).
  void send(api::Response&& res, unsigned version, bool keep_alive, bool head,
            std::string_view frame_ancestors = kNoFraming);
  // The watch or embed page of channel: 200, or 404 when no account has that name.
  void send_channel_page(api::Response&& page, const std::string& channel, unsigned version,
                         bool keep_alive, bool head, std::string_view frame_ancestors);
  void send_error(http::status status, std::string_view code, std::string_view message);
  // While a deferred answer waits: sets *gone once the client closes or resets the connection.
  void watch_for_close(const std::shared_ptr<std::atomic<bool>>& gone);
  void on_write(bool close, beast::error_code ec, std::size_t bytes);
  void write_file_piece(bool close);
  void do_close();
  void do_linger_close();
  void do_drain();
  void on_drain(beast::error_code ec, std::size_t bytes);

  Stream stream_;
  beast::flat_buffer buffer_;
  std::shared_ptr<SharedState> state_;
  ConnectionSlot slot_;
  // Behind a trusted proxy: the slot of the current request's client (per-address limit).
  bool proxied_ = false;
  ConnectionSlot client_slot_;
  bool hsts_ = false;  // Strict-Transport-Security on this request's response
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<http::response<http::string_body>> response_;
  // A Response::file answer, written a piece at a time: each piece gets read_timeout, so a
  // slow but steady download goes on and a stalled one is dropped.
  std::shared_ptr<http::response<FileSpanBody>> file_response_;
  std::optional<http::response_serializer<FileSpanBody>> file_writer_;
  std::string remote_addr_;
  std::string log_method_;
  std::string log_path_;
  std::string log_addr_;  // the request's client address (after trusted X-Forwarded-For)
  std::chrono::steady_clock::time_point started_;
  bool linger_ = false;  // the reply refused a request whose body may still be arriving
  std::size_t drained_ = 0;
};

}  // namespace ds::net
