#include "net/listener.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>

#include "net/http_session.hpp"

namespace ds::net {

namespace {

// Out of descriptors (or kernel memory): accepting again at once fails again at once.
constexpr std::chrono::milliseconds kAcceptBackoff{100};

bool is_resource_exhaustion(beast::error_code ec) {
  return ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
         ec == asio::error::no_memory || ec.value() == ENFILE;
}

constexpr std::string_view kBusyResponse =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: application/json\r\n"
    "Retry-After: 5\r\n"
    "Connection: close\r\n"
    "Content-Length: 79\r\n"
    "\r\n"
    R"({"error":{"code":"too_many_connections","message":"too many open connections"}})";
static_assert(kBusyResponse.size() - kBusyResponse.find("\r\n\r\n") - 4 == 79);

}  // namespace

Listener::Listener(asio::io_context& ioc, tcp::endpoint endpoint,
                   std::shared_ptr<SharedState> state, std::function<asio::io_context&()> next_loop)
    : next_loop_(std::move(next_loop)),
      acceptor_(ioc),
      backoff_(acceptor_.get_executor()),
      state_(std::move(state)) {
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
    self->backoff_.cancel();
  });
}

void Listener::do_accept() {
  acceptor_.async_accept(next_loop_().get_executor(),
                         beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
}

// Over a limit: a short non-blocking 503 (best effort, it fits any socket buffer), then close.
void Listener::refuse(Socket& socket) {
  beast::error_code ec;
  socket.non_blocking(true, ec);
  socket.write_some(asio::buffer(kBusyResponse.data(), kBusyResponse.size()), ec);
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
}

void Listener::on_accept(beast::error_code ec, Socket socket) {
  if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;  // shut down
  if (ec) {
    if (is_resource_exhaustion(ec)) {
      auto now = std::chrono::steady_clock::now();
      if (now - last_warning_ > std::chrono::seconds(1)) {
        last_warning_ = now;
        spdlog::warn("event=accept_backoff error=\"{}\" open={}", ec.message(),
                     state_->limits->open());
      }
      backoff_.expires_after(kAcceptBackoff);
      backoff_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
        if (!wait_ec && self->acceptor_.is_open()) self->do_accept();
      });
      return;
    }
    fail(ec, "accept");
    return do_accept();
  }
  beast::error_code ep_ec;
  auto ep = socket.remote_endpoint(ep_ec);
  std::string address = ep_ec ? std::string() : ep.address().to_string();
  // A trusted proxy speaks for many clients: its connections count against the total here, and
  // each request's client against the per-address limit once known (HttpSession::handle).
  auto slot = is_trusted_proxy(state_->options, address) ? state_->limits->try_acquire_proxied()
                                                         : state_->limits->try_acquire(address);
  if (!slot) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_warning_ > std::chrono::seconds(1)) {
      last_warning_ = now;
      spdlog::warn("event=connection_refused reason=limit addr={} open={}", address,
                   state_->limits->open());
    }
    refuse(socket);
    return do_accept();
  }
  // A job or status is a text message followed by a small binary one; without NODELAY the
  // second write waits for the peer's delayed ACK (~40 ms), capping a worker at ~22 jobs/s.
  beast::error_code opt_ec;
  socket.set_option(tcp::no_delay(true), opt_ec);
  std::make_shared<HttpSession>(std::move(socket), state_, std::move(slot))->run();
  do_accept();
}

}  // namespace ds::net
