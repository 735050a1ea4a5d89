// Accepts TCP connections within the connection limits and hands each to a new HTTP session;
// backs off instead of spinning when the process runs out of descriptors.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>

#include "net/server.hpp"

namespace ds::net {

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  // Accepts on ioc; each connection goes to the loop next_loop() names.
  Listener(asio::io_context& ioc, tcp::endpoint endpoint, std::shared_ptr<SharedState> state,
           std::function<asio::io_context&()> next_loop);

  void run();
  void close();
  unsigned short port() const { return port_; }

 private:
  void do_accept();
  void on_accept(beast::error_code ec, Socket socket);
  void refuse(Socket& socket);

  std::function<asio::io_context&()> next_loop_;
  tcp::acceptor acceptor_;
  asio::steady_timer backoff_;
  std::shared_ptr<SharedState> state_;
  unsigned short port_ = 0;
  std::chrono::steady_clock::time_point last_warning_{};
};

}  // namespace ds::net
