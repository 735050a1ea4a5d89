// A scripted WebSocket server for client tests: real sockets on an ephemeral loopback port,
// blocking calls with timeouts so a misbehaving client fails the test instead of hanging it.
#pragma once

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace ds::worker::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using ServerSocket = websocket::stream<tcp::socket>;

class FakeServer {
 public:
  explicit FakeServer(unsigned short port = 0) : acceptor_(ioc_) {
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
  }

  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port()); }

  // Waits for a TCP connection; throws after `timeout`.
  tcp::socket accept_tcp(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    tcp::socket socket(ioc_);
    beast::error_code result = asio::error::timed_out;
    acceptor_.async_accept(socket, [&](beast::error_code ec) { result = ec; });
    ioc_.restart();
    ioc_.run_for(timeout);
    if (result == asio::error::timed_out) {
      acceptor_.cancel();
      ioc_.restart();
      ioc_.run();
      throw std::runtime_error("no client connected in time");
    }
    if (result) throw beast::system_error(result);
    set_receive_timeout(socket, std::chrono::seconds(10));
    return socket;
  }

  // Accepts a WebSocket upgrade and hands back the request it came with.
  std::unique_ptr<ServerSocket> accept(
      http::request<http::string_body>& request,
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto ws = std::make_unique<ServerSocket>(accept_tcp(timeout));
    beast::flat_buffer buffer;
    http::read(ws->next_layer(), buffer, request);
    ws->accept(request);
    return ws;
  }

  // Reads the upgrade request and refuses it with an HTTP error and a JSON body.
  http::request<http::string_body> refuse(int status, const std::string& code,
                                          const std::string& message) {
    tcp::socket socket = accept_tcp();
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::read(socket, buffer, request);
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    res.set(http::field::content_type, "application/json");
    res.body() = nlohmann::json{{"error", {{"code", code}, {"message", message}}}}.dump();
    res.prepare_payload();
    http::write(socket, res);
    beast::error_code ec;
    socket.shutdown(tcp::socket::shutdown_both, ec);
    return request;
  }

  static void set_receive_timeout(tcp::socket& socket, std::chrono::milliseconds timeout) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  void close() { acceptor_.close(); }

 private:
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
};

struct Message {
  bool binary = false;
  std::string data;
  nlohmann::json json() const { return nlohmann::json::parse(data); }
};

inline Message read_message(ServerSocket& ws) {
  beast::flat_buffer buffer;
  ws.read(buffer);
  return {ws.got_binary(), beast::buffers_to_string(buffer.data())};
}

// Reads until the client closes; returns the close code (throws on other errors or data).
inline int read_until_closed(ServerSocket& ws) {
  for (;;) {
    beast::flat_buffer buffer;
    beast::error_code ec;
    ws.read(buffer, ec);
    if (ec == websocket::error::closed) return static_cast<int>(ws.reason().code);
    if (ec) throw beast::system_error(ec);
  }
}

inline void send_text(ServerSocket& ws, const nlohmann::json& j) {
  ws.text(true);
  ws.write(asio::buffer(j.dump()));
}

inline void send_binary(ServerSocket& ws, const std::string& data) {
  ws.binary(true);
  ws.write(asio::buffer(data));
}

}  // namespace ds::worker::testing
