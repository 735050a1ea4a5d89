#include "net/ws_session.hpp"

#include <spdlog/spdlog.h>

#include "net/handler_pool.hpp"

namespace ds::net {

namespace websocket = beast::websocket;

namespace {

// Status and chat text is small; past this many queued messages a client is not reading and
// the oldest are dropped rather than growing memory.
constexpr std::size_t kMaxQueuedTexts = 256;

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

WsSession::WsSession(Connection&& conn, Limits limits)
    : slot_(std::move(conn.slot)),
      ws_(std::move(conn.stream)),
      budget_(limits.queue),
      write_timer_(ws_.get_executor()),
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
    if (ec == websocket::error::closed) peer_close_code_ = ws_.reason().code;
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
  release_queued();
  drop_frame();
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

namespace {

// Messages and bytes of an ordered group, as the budget counts them.
std::pair<std::size_t, std::size_t> weight(const live::Bytes& text,
                                           const std::vector<live::Bytes>& binaries) {
  std::size_t messages = text ? 1 : 0;
  std::size_t bytes = text ? text->size() : 0;
  for (const auto& b : binaries) {
    messages++;
    bytes += b ? b->size() : 0;
  }
  return {messages, bytes};
}

}  // namespace

void WsSession::send_ordered(live::Bytes text, std::vector<live::Bytes> binaries) {
  // Counted here, on the sender's thread, so the hub sees at once what it has queued.
  auto [messages, bytes] = weight(text, binaries);
  if (!budget_.add(messages, bytes)) {
    asio::post(ws_.get_executor(), [self = shared_from_this()] {
      self->drop("send queue full", !self->writing_ && !self->writing_frame_);
    });
    return;
  }
  asio::post(ws_.get_executor(), [self = shared_from_this(),
                                  g = Group{std::move(text), std::move(binaries)}]() mutable {
    self->enqueue_group(std::move(g));
  });
}

void WsSession::close(int code, std::string reason) {
  asio::post(ws_.get_executor(),
             [self = shared_from_this(), code, reason = std::move(reason)]() mutable {
               self->begin_close(code, std::move(reason));
             });
}

void WsSession::begin_close(int code, std::string reason) {
  if (closed_ || close_pending_) return;
  close_pending_.emplace(code, std::move(reason));
  release_queued();
  drop_frame();
  if (open_) do_write();
}

void WsSession::release_queued() {
  for (const auto& g : groups_) {
    auto [messages, bytes] = weight(g.text, g.binaries);
    budget_.release(messages, bytes);
  }
  groups_.clear();
  for (const auto& b : tail_) budget_.release(1, b ? b->size() : 0);
  tail_.clear();
}

void WsSession::watch_write() {
  budget_.write_started(steady_ms());
  auto due = budget_.write_due_ms();
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
  auto due = budget_.write_due_ms();
  if (!due) return;  // nothing being written: the next write arms the watch again
  if (budget_.write_overdue(steady_ms())) return drop("write timed out", false);
  arm_write_watch(*due);  // a later write is under way: its own deadline
}

void WsSession::drop(const char* why, bool gracefully) {
  if (closed_ && !close_pending_) return;
  spdlog::warn("event=ws_dropped code={} reason=\"{}\" queued_messages={} queued_bytes={}",
               live::wire::code_value(live::wire::CloseCode::kPolicy), why, budget_.messages(),
               budget_.bytes());
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
  if (closed_ || close_pending_ || (!group.text && group.binaries.empty())) {
    auto [messages, bytes] = weight(group.text, group.binaries);
    budget_.release(messages, bytes);
    return;
  }
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
    writing_ = Out{std::move(tail_.front()), true, true};
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
      writing_ = Out{std::move(g.text), false, true};
    } else {
      writing_ = Out{std::move(tail_.front()), true, true};
      tail_.pop_front();
    }
  } else if (close_pending_) {
    auto [code, reason] = *close_pending_;
    websocket::close_reason cr;
    cr.code = static_cast<std::uint16_t>(code);
    cr.reason = reason;
    // A peer that does not read cannot take the close frame either: the deadline holds.
    watch_write();
    ws_.async_close(cr, [self = shared_from_this()](beast::error_code) {
      self->budget_.write_finished();
      self->write_timer_.cancel();
      self->closed();
    });
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
  watch_write();
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
  budget_.write_finished();
  if (writing_ && writing_->counted)
    budget_.release(1, writing_->data ? writing_->data->size() : 0);
  writing_.reset();
  writing_frame_.reset();
  if (ec) {
    fail(ec, "ws_write");
    return closed();
  }
  do_write();
}

}  // namespace ds::net
