// A client WebSocket (ws:// or wss://) for the worker and push tools, driven by C++20 coroutines
// on one io_context thread. Binary messages are never compressed or fragmented.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "worker/ws_url.hpp"

namespace ds::worker {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

class WsClient {
 public:
  explicit WsClient(asio::any_io_executor executor);
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // Resolves, connects (TCP, then TLS for wss://) and upgrades, sending
  // `Authorization: Bearer <bearer>` (the token is only ever put in that header). When the
  // server refuses the upgrade, http_status() and rejection() say why.
  asio::awaitable<beast::error_code> connect(const WsUrl& url, std::string bearer,
                                             std::string user_agent,
                                             std::chrono::milliseconds timeout);
  // At most one write in flight at a time (the caller serialises writes).
  asio::awaitable<beast::error_code> write(std::string_view data, bool binary);
  asio::awaitable<beast::error_code> read(beast::flat_buffer& buffer, bool& binary);
  asio::awaitable<beast::error_code> close(websocket::close_code code, std::string_view reason);
  // Shuts the socket at once: pending operations complete with an error.
  void force_close();

  bool is_open() const;
  // The close frame the server sent, after a read failed with websocket::error::closed.
  websocket::close_reason reason() const;
  int http_status() const { return http_status_; }
  // The "message" of the JSON error body of a refused upgrade, or the raw body (shortened).
  const std::string& rejection() const { return rejection_; }

 private:
  using Plain = websocket::stream<beast::tcp_stream>;
  using Tls = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

  asio::any_io_executor executor_;
  std::unique_ptr<asio::ssl::context> ssl_;
  std::unique_ptr<Plain> plain_;
  std::unique_ptr<Tls> tls_;
  int http_status_ = 0;
  std::string rejection_;
};

}  // namespace ds::worker
