#include "net/listener.hpp"

#include <spdlog/spdlog.h>

#include "net/http_session.hpp"

namespace ds::net {

Listener::Listener(asio::io_context& ioc, tcp::endpoint endpoint,
                   std::shared_ptr<SharedState> state)
    : ioc_(ioc), acceptor_(asio::make_strand(ioc)), state_(std::move(state)) {
  // Start-up errors throw: there is nothing to serve without a socket.
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  port_ = acceptor_.local_endpoint().port();
}

void Listener::run() { do_accept(); }

void Listener::close() {
  asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
    beast::error_code ec;
    self->acceptor_.close(ec);
  });
}

void Listener::do_accept() {
  acceptor_.async_accept(asio::make_strand(ioc_),
                         beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
}

void Listener::on_accept(beast::error_code ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted) return;  // closed for shutdown
  if (ec) {
    fail(ec, "accept");
  } else {
    // A job or status is a text message followed by a small binary one; without NODELAY the
    // second write waits for the peer's delayed ACK (~40 ms), capping a worker at ~22 jobs/s.
    beast::error_code opt_ec;
    socket.set_option(tcp::no_delay(true), opt_ec);
    std::make_shared<HttpSession>(std::move(socket), state_)->run();
  }
  if (acceptor_.is_open()) do_accept();
}

}  // namespace ds::net
