#include "net/mjpeg_session.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <sstream>

#include "net/handler_pool.hpp"

namespace ds::net {

namespace {

constexpr const char* kBoundary = "dreamstreamframe";

}  // namespace

MjpegSession::MjpegSession(Connection&& conn, std::chrono::milliseconds write_timeout,
                           std::function<void(MjpegSession&)> on_closed)
    : slot_(std::move(conn.slot)),
      stream_(std::move(conn.stream)),
      write_deadline_(stream_.get_executor()),
      write_timeout_(write_timeout),
      on_closed_(std::move(on_closed)),
      ready_(asio::use_service<ReadyQueue>(stream_.get_executor().context())) {}

void MjpegSession::start(unsigned http_version, bool hsts) {
  http::response<http::empty_body> res{http::status::ok, http_version};
  res.set(http::field::server, "dreamstream");
  res.set(http::field::content_type,
          std::string("multipart/x-mixed-replace; boundary=") + kBoundary);
  res.set(http::field::cache_control, "no-store");
  res.set(http::field::connection, "close");
  apply_security_headers(res);
  if (hsts) res.set(http::field::strict_transport_security, kHstsValue);
  std::ostringstream os;
  os << res.base();
  head_ = os.str();
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    self->started_ = true;
    self->watch_for_disconnect();
    self->do_write();
  });
}

void MjpegSession::watch_for_disconnect() {
  // The client never sends anything after the request; a completed read means it went away.
  // TCP keep-alive finds a peer that vanished without a word while no frame is being written
  // (e.g. waiting for an offline stream) within about 90 s instead of the kernel's 2 hours.
  stream_.expires_never();
  auto& sock = stream_.socket();
  beast::error_code ec;
  sock.set_option(asio::socket_base::keep_alive(true), ec);
  int idle = 60, interval = 10, count = 3;
  ::setsockopt(sock.native_handle(), IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(sock.native_handle(), IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(sock.native_handle(), IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  stream_.socket().async_read_some(
      asio::buffer(&read_byte_, 1),
      [self = shared_from_this()](beast::error_code, std::size_t) { self->closed(); });
}

void MjpegSession::send_frame(live::Bytes, live::Bytes jpeg, bool) {
  live::Bytes dropped;  // released outside the lock
  bool wake = false;
  {
    std::lock_guard lock(frame_mutex_);
    dropped = std::exchange(latest_, std::move(jpeg));  // latest wins
    wake = !frame_wake_pending_;
    frame_wake_pending_ = true;
  }
  if (wake) ready_.push(shared_from_this());
}

void MjpegSession::on_ready() {
  {
    std::lock_guard lock(frame_mutex_);
    frame_wake_pending_ = false;
  }
  if (closed_) {
    take_frame();  // a frame that came after the end goes now, not with the session
    return;
  }
  do_write();
}

live::Bytes MjpegSession::take_frame() {
  std::lock_guard lock(frame_mutex_);
  return std::exchange(latest_, nullptr);
}

void MjpegSession::close(int, std::string) {
  asio::post(stream_.get_executor(), [self = shared_from_this()] { self->closed(); });
}

void MjpegSession::do_write() {
  if (!started_ || closed_ || writing_) return;
  // One deadline per write: a reader whose window stays shut past it is dropped.
  auto arm = [this] {
    write_deadline_.expires_after(write_timeout_);
    write_deadline_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec) return;  // cancelled: the write finished in time
      spdlog::info("event=mjpeg_write_timeout");
      self->closed();
    });
  };
  if (!head_.empty()) {
    arm();
    part_header_ = std::move(head_);
    head_.clear();
    writing_ = std::make_shared<const std::string>();
    asio::async_write(
        stream_.socket(), asio::buffer(part_header_),
        pooled(beast::bind_front_handler(&MjpegSession::on_write, shared_from_this())));
    return;
  }
  writing_ = take_frame();
  if (!writing_) return;
  arm();
  part_header_ =
      std::string("--") + kBoundary +
      "\r\nContent-Type: image/jpeg\r\nContent-Length: " + std::to_string(writing_->size()) +
      "\r\n\r\n";
  static const std::string kCrlf = "\r\n";
  std::array<asio::const_buffer, 3> bufs{asio::buffer(part_header_), asio::buffer(*writing_),
                                         asio::buffer(kCrlf)};
  asio::async_write(stream_.socket(), bufs,
                    pooled(beast::bind_front_handler(&MjpegSession::on_write, shared_from_this())));
}

void MjpegSession::on_write(beast::error_code ec, std::size_t) {
  writing_.reset();
  write_deadline_.cancel();
  if (ec) {
    fail(ec, "mjpeg_write");
    return closed();
  }
  do_write();
}

void MjpegSession::closed() {
  if (closed_) return;
  closed_ = true;
  take_frame();
  write_deadline_.cancel();
  // Closing the socket aborts a pending write or read; the descriptor goes now, not when the
  // last handler lets go of this session.
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.socket().close(ec);
  if (on_closed_) on_closed_(*this);
  on_closed_ = nullptr;
}

}  // namespace ds::net
