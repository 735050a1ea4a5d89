#include "net/ws_session.hpp"

#include "net/handler_pool.hpp"

namespace ds::net {

namespace websocket = beast::websocket;

namespace {

// Status and chat text is small; past this many queued messages a client is not reading and
// the oldest are dropped rather than growing memory.
constexpr std::size_t kMaxQueuedTexts = 256;

}  // namespace

WsSession::WsSession(Connection&& conn, Limits limits)
    : slot_(std::move(conn.slot)),
      ws_(std::move(conn.stream)),
      ready_(asio::use_service<ReadyQueue>(ws_.get_executor().context())) {
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
    if (ec == websocket::error::message_too_big) {
      close_pending_.emplace(live::wire::code_value(live::wire::CloseCode::kTooBig),
                             "message too big");
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
  texts_.clear();
  groups_.clear();
  drop_frame();
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
  std::optional<Pair> dropped;  // released outside the lock
  bool wake = false;
  {
    std::lock_guard lock(frame_mutex_);
    dropped = std::move(latest_);
    latest_.emplace(Pair{std::move(meta), std::move(jpeg)});  // latest wins
    wake = !frame_wake_pending_;
    frame_wake_pending_ = true;
  }
  if (wake) ready_.push(shared_from_this());
}

void WsSession::send_ordered(live::Bytes text, std::vector<live::Bytes> binaries) {
  asio::post(ws_.get_executor(), [self = shared_from_this(),
                                  g = Group{std::move(text), std::move(binaries)}]() mutable {
    self->enqueue_group(std::move(g));
  });
}

void WsSession::close(int code, std::string reason) {
  asio::post(ws_.get_executor(),
             [self = shared_from_this(), code, reason = std::move(reason)]() mutable {
               if (self->closed_ || self->close_pending_) return;
               self->close_pending_.emplace(code, std::move(reason));
               self->groups_.clear();
               self->drop_frame();
               if (self->open_) self->do_write();
             });
}

void WsSession::enqueue_text(live::Bytes text) {
  if (closed_ || close_pending_) return;
  if (texts_.size() >= kMaxQueuedTexts) texts_.pop_front();
  texts_.push_back(std::move(text));
  if (open_) do_write();
}

void WsSession::on_ready() {
  {
    std::lock_guard lock(frame_mutex_);
    frame_wake_pending_ = false;
  }
  if (open_) do_write();
}

void WsSession::enqueue_group(Group group) {
  if (closed_ || close_pending_ || (!group.text && group.binaries.empty())) return;
  groups_.push_back(std::move(group));
  if (open_) do_write();
}

std::optional<WsSession::Pair> WsSession::take_frame() {
  std::lock_guard lock(frame_mutex_);
  std::optional<Pair> p = std::move(latest_);
  latest_.reset();
  return p;
}

void WsSession::drop_frame() {
  auto p = take_frame();  // released outside the lock
}

void WsSession::do_write() {
  if (writing_ || writing_frame_ || closed_) return;
  if (!tail_.empty()) {
    writing_ = Out{std::move(tail_.front()), true};
    tail_.pop_front();
  } else if (frame_jpeg_) {
    writing_ = Out{std::move(frame_jpeg_), true};
  } else if (!texts_.empty()) {
    writing_ = Out{std::move(texts_.front()), false};
    texts_.pop_front();
  } else if (!groups_.empty()) {
    auto g = std::move(groups_.front());
    groups_.pop_front();
    for (auto& b : g.binaries) tail_.push_back(std::move(b));
    if (g.text) {
      writing_ = Out{std::move(g.text), false};
    } else {
      writing_ = Out{std::move(tail_.front()), true};
      tail_.pop_front();
    }
  } else if (close_pending_) {
    auto [code, reason] = *close_pending_;
    websocket::close_reason cr;
    cr.code = static_cast<std::uint16_t>(code);
    cr.reason = reason;
    ws_.async_close(cr, [self = shared_from_this()](beast::error_code) { self->closed(); });
    closed_ = true;
    if (handlers_.on_closed) handlers_.on_closed(*this);
    handlers_ = {};
    return;
  } else if (auto p = take_frame()) {
    if (inline_frames_) return write_inline(std::move(*p));
    if (p->meta) {
      writing_ = Out{std::move(p->meta), false};
      frame_jpeg_ = std::move(p->jpeg);
    } else {
      writing_ = Out{std::move(p->jpeg), true};
    }
  } else {
    return;
  }
  ws_.binary(writing_->binary);
  ws_.async_write(asio::buffer(*writing_->data),
                  pooled(beast::bind_front_handler(&WsSession::on_write, shared_from_this())));
}

void WsSession::write_inline(Pair frame) {
  // One message: the length prefix, then the meta and the JPEG every viewer shares, gathered
  // into one write (no copy).
  writing_frame_ = std::move(frame);
  const auto& meta = writing_frame_->meta;
  inline_prefix_ = live::wire::inline_frame_prefix(meta ? meta->size() : 0);
  std::array<asio::const_buffer, 3> parts{asio::buffer(inline_prefix_),
                                          meta ? asio::buffer(*meta) : asio::const_buffer{},
                                          asio::buffer(*writing_frame_->jpeg)};
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
        return;
      case FrameStream::Sent::kFailed:
        return on_write(ec, 0);
      case FrameStream::Sent::kBusy:
        break;  // behind one of Beast's own writes: through Beast
    }
  }
  ws_.binary(true);
  ws_.async_write(parts,
                  pooled(beast::bind_front_handler(&WsSession::on_write, shared_from_this())));
}

void WsSession::on_write(beast::error_code ec, std::size_t) {
  writing_.reset();
  writing_frame_.reset();
  if (ec) {
    fail(ec, "ws_write");
    return closed();
  }
  do_write();
}

}  // namespace ds::net
