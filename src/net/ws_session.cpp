#include "net/ws_session.hpp"

#include <spdlog/spdlog.h>

#include "net/handler_pool.hpp"

namespace ds::net {

namespace websocket = beast::websocket;

namespace {

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

WsSession::WsSession(Connection&& conn, Limits limits)
    : slot_(std::move(conn.slot)),
      ws_(std::move(conn.stream)),
      queue_(OutboundQueue::Limits{.ordered = limits.queue}),
      ready_(asio::use_service<ReadyQueue>(ws_.get_executor().context())),
      write_timer_(ws_.get_executor()) {
  ws_.read_message_max(limits.max_message_bytes);
  ws_.auto_fragment(false);
  // Pings after half the idle time keep a quiet viewer's connection open (browsers answer
  // them); a peer that answers nothing, or stops reading so the ping cannot reach it, is
  // dropped after the whole idle time.
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = limits.handshake_timeout;
  timeouts.idle_timeout = limits.idle_timeout;
  timeouts.keep_alive_pings = true;
  ws_.set_option(timeouts);
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "dreamstream"); }));
}

WsSession::~WsSession() = default;

void WsSession::set_hsts(bool on) {
  ws_.set_option(websocket::stream_base::decorator([on](websocket::response_type& res) {
    res.set(http::field::server, "dreamstream");
    if (on) res.set(http::field::strict_transport_security, kHstsValue);
  }));
}

void WsSession::accept(HttpRequest&& req, Handlers handlers) {
  // May be called from any thread (e.g. after an auth lookup on the blocking pool).
  asio::dispatch(ws_.get_executor(), [self = shared_from_this(), req = std::move(req),
                                      handlers = std::move(handlers)]() mutable {
    self->handlers_ = std::move(handlers);
    auto r = std::make_shared<HttpRequest>(std::move(req));
    self->ws_.async_accept(*r, [self, r](beast::error_code ec) { self->on_accept(ec); });
  });
}

void WsSession::on_accept(beast::error_code ec) {
  if (ec) {
    fail(ec, "ws_accept");
    return closed();  // undo what was registered for this socket before the handshake
  }
  open_ = true;
  if (handlers_.on_open) handlers_.on_open(*this);
  do_read();
  do_write();
}

void WsSession::do_read() {
  ws_.async_read(buffer_,
                 pooled(beast::bind_front_handler(&WsSession::on_read, shared_from_this())));
}

void WsSession::on_read(beast::error_code ec, std::size_t) {
  if (ec) {
    if (ec == websocket::error::closed) peer_close_code_ = ws_.reason().code;
    if (ec == websocket::error::message_too_big) {
      queue_.close(live::wire::code_value(live::wire::CloseCode::kTooBig), "message too big");
    }
    fail(ec, "ws_read");
    return closed();
  }
  std::string data = beast::buffers_to_string(buffer_.data());
  buffer_.consume(buffer_.size());
  bool binary = ws_.got_binary();
  if (handlers_.on_message) handlers_.on_message(*this, binary, std::move(data));
  if (!closed_) do_read();
}

void WsSession::closed() {
  if (closed_) return;
  closed_ = true;
  queue_.clear();
  write_timer_.cancel();
  if (handlers_.on_closed) handlers_.on_closed(*this);
  handlers_ = {};  // break reference cycles through captured state
}

void WsSession::send_text(live::Bytes text) {
  asio::post(ws_.get_executor(), [self = shared_from_this(), text = std::move(text)]() mutable {
    self->enqueue_text(std::move(text));
  });
}

void WsSession::send_frame(live::Bytes meta, live::Bytes jpeg, bool replaceable) {
  if (!replaceable) {
    std::vector<live::Bytes> binaries;
    binaries.push_back(std::move(jpeg));
    return send_ordered(std::move(meta), std::move(binaries));
  }
  if (!pictures_) return;
  if (queue_.push_frame(std::move(meta), std::move(jpeg))) ready_.push(shared_from_this());
}

void WsSession::start_video(std::vector<video::Delivery> gop) {
  if (!pictures_) return;
  if (queue_.start_video(std::move(gop))) ready_.push(shared_from_this());
}

void WsSession::send_video(const video::UnitPtr& unit) {
  if (!pictures_) return;
  if (queue_.push_video(unit)) ready_.push(shared_from_this());
}

void WsSession::send_ordered(live::Bytes text, std::vector<live::Bytes> binaries) {
  // Counted here, on the sender's thread, so the hub sees at once what it has queued.
  if (!queue_.admit_ordered(text, binaries)) {
    asio::post(ws_.get_executor(), [self = shared_from_this()] {
      self->drop("send queue full", !self->queue_.writing());
    });
    return;
  }
  asio::post(ws_.get_executor(), [self = shared_from_this(), text = std::move(text),
                                  binaries = std::move(binaries)]() mutable {
    self->enqueue_group(std::move(text), std::move(binaries));
  });
}

void WsSession::close(int code, std::string reason) {
  asio::post(ws_.get_executor(),
             [self = shared_from_this(), code, reason = std::move(reason)]() mutable {
               self->begin_close(code, std::move(reason));
             });
}

void WsSession::begin_close(int code, std::string reason) {
  if (closed_ || !queue_.close(code, std::move(reason))) return;
  if (open_) do_write();
}

void WsSession::watch_write() {
  queue_.budget().write_started(steady_ms());
  auto due = queue_.budget().write_due_ms();
  if (write_watch_armed_ || !due) return;
  arm_write_watch(*due);
}

void WsSession::arm_write_watch(std::int64_t due_ms) {
  write_watch_armed_ = true;
  write_timer_.expires_at(std::chrono::steady_clock::time_point(std::chrono::milliseconds(due_ms)));
  write_timer_.async_wait(
      beast::bind_front_handler(&WsSession::on_write_watch, shared_from_this()));
}

void WsSession::on_write_watch(beast::error_code ec) {
  write_watch_armed_ = false;
  if (ec) return;  // cancelled: the session is closed
  auto due = queue_.budget().write_due_ms();
  if (!due) return;  // nothing being written: the next write arms the watch again
  if (queue_.budget().write_overdue(steady_ms())) return drop("write timed out", false);
  arm_write_watch(*due);  // a later write is under way: its own deadline
}

void WsSession::drop(const char* why, bool gracefully) {
  if (closed_ && !queue_.closing()) return;
  spdlog::warn("event=ws_dropped code={} reason=\"{}\" queued_messages={} queued_bytes={}",
               live::wire::code_value(live::wire::CloseCode::kPolicy), why, queued().messages,
               queued().bytes);
  if (gracefully && !closed_) {
    return begin_close(live::wire::code_value(live::wire::CloseCode::kPolicy), why);
  }
  // Reset rather than closed: the kernel lets go of what it still holds for this peer now.
  beast::error_code ignored;
  auto& socket = ws_.next_layer().next_layer().socket();
  socket.set_option(asio::socket_base::linger(true, 0), ignored);
  socket.close(ignored);
  closed();
  write_timer_.cancel();
}

void WsSession::enqueue_text(live::Bytes text) {
  if (queue_.push_text(std::move(text)) && open_) do_write();
}

void WsSession::on_ready() {
  queue_.take_wake();
  if (open_) do_write();
}

void WsSession::enqueue_group(live::Bytes text, std::vector<live::Bytes> binaries) {
  // Refused (and let go of from the budget) once the session closes or is closed.
  if (queue_.push_ordered(std::move(text), std::move(binaries)) && open_) do_write();
}

void WsSession::do_write() {
  if (closed_) return;
  const OutboundQueue::Write* w = queue_.next();
  if (!w) return;
  using Kind = OutboundQueue::Write::Kind;
  if (w->kind == Kind::kClose) {
    websocket::close_reason cr;
    cr.code = static_cast<std::uint16_t>(queue_.close_code());
    cr.reason = queue_.close_reason();
    // A peer that does not read cannot take the close frame either: the deadline holds.
    watch_write();
    ws_.async_close(cr, [self = shared_from_this()](beast::error_code) {
      self->queue_.budget().write_finished();
      self->write_timer_.cancel();
      self->closed();
    });
    closed_ = true;
    if (handlers_.on_closed) handlers_.on_closed(*this);
    handlers_ = {};
    return;
  }
  if (w->kind == Kind::kFrame) return write_inline(*w);
  ws_.binary(w->kind == Kind::kBinary);
  watch_write();
  ws_.async_write(asio::buffer(*w->data),
                  pooled(beast::bind_front_handler(&WsSession::on_write, shared_from_this())));
}

void WsSession::write_inline(const OutboundQueue::Write& frame) {
  // One message: the length prefix, then the meta and the JPEG every viewer shares, gathered
  // into one write (no copy; the queue holds them until written()).
  const auto& meta = frame.data;
  inline_prefix_ = live::wire::inline_frame_prefix(meta ? meta->size() : 0);
  std::array<asio::const_buffer, 3> parts{asio::buffer(inline_prefix_),
                                          meta ? asio::buffer(*meta) : asio::const_buffer{},
                                          asio::buffer(*frame.jpeg)};
  if (ws_.is_open()) {
    // Framed here and written straight to the socket (net/frame_stream.hpp).
    auto header_len = ws_frame_header(2, asio::buffer_size(parts), frame_header_);
    FrameStream::Parts framed{asio::buffer(frame_header_.data(), header_len), parts[0], parts[1],
                              parts[2]};
    beast::error_code ec;
    // The keep-alive only for a frame left pending: most are written at once.
    auto sent = ws_.next_layer().write_now(framed, ec, [this] {
      return [self = shared_from_this()](beast::error_code wec) { self->on_write(wec, 0); };
    });
    switch (sent) {
      case FrameStream::Sent::kAll:
        return on_write({}, 0);
      case FrameStream::Sent::kPending:
        return watch_write();
      case FrameStream::Sent::kFailed:
        return on_write(ec, 0);
      case FrameStream::Sent::kBusy:
        break;  // behind one of Beast's own writes: through Beast
    }
  }
  ws_.binary(true);
  watch_write();
  ws_.async_write(parts,
                  pooled(beast::bind_front_handler(&WsSession::on_write, shared_from_this())));
}

void WsSession::on_write(beast::error_code ec, std::size_t) {
  queue_.budget().write_finished();
  queue_.written();
  if (ec) {
    fail(ec, "ws_write");
    return closed();
  }
  do_write();
}

}  // namespace ds::net
