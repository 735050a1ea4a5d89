#include "net/http_session.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/beast/websocket.hpp>
#include <cerrno>
#include <cstdint>
#include <limits>

#include "domain/username.hpp"
#include "net/guard.hpp"

namespace ds::net {

namespace websocket = beast::websocket;

namespace {

constexpr std::chrono::seconds kLingerTimeout{5};
constexpr std::size_t kDrainChunk = 64 * 1024;
constexpr std::size_t kMaxDrainBytes = 64 * 1024 * 1024;

// A malformed request (as opposed to a network error) deserves a 400 before closing.
bool is_parse_error(beast::error_code ec) {
  return ec.category() == make_error_code(http::error::bad_target).category();
}

}  // namespace

HttpSession::HttpSession(Socket&& socket, std::shared_ptr<SharedState> state, ConnectionSlot slot)
    : stream_(std::move(socket)), state_(std::move(state)), slot_(std::move(slot)) {
  beast::error_code ec;
  auto ep = stream_.socket().remote_endpoint(ec);
  if (!ec) remote_addr_ = ep.address().to_string();
  proxied_ = is_trusted_proxy(state_->options, remote_addr_);
  hsts_ = state_->options.hsts;
}

void HttpSession::run() {
  asio::dispatch(stream_.get_executor(),
                 beast::bind_front_handler(&HttpSession::do_read, shared_from_this()));
}

void HttpSession::do_read() {
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(state_->options.max_header_bytes));
  // The body limit depends on the path, so it is set once the header is in (on_read_header);
  // until then Beast must not judge Content-Length against its own default.
  parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  stream_.expires_after(state_->options.read_timeout);
  http::async_read_header(
      stream_, buffer_, *parser_,
      beast::bind_front_handler(&HttpSession::on_read_header, shared_from_this()));
}

void HttpSession::on_read_header(beast::error_code ec, std::size_t) {
  if (ec == http::error::end_of_stream || ec == beast::error::timeout) return do_close();
  if (ec == http::error::header_limit) {
    return send_error(http::status::request_header_fields_too_large, "headers_too_large",
                      "request headers are too large");
  }
  if (ec) {
    if (is_parse_error(ec)) {
      return send_error(http::status::bad_request, "bad_request", "malformed HTTP request");
    }
    return fail(ec, "read_header");
  }
  auto target = parser_->get().target();
  auto path = target.substr(0, target.find('?'));
  auto limit = state_->body_limit_for(path);
  if (auto len = parser_->content_length(); len && *len > limit) {
    return send_error(http::status::payload_too_large, "too_large", "request body is too large");
  }
  parser_->body_limit(limit);
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
}

void HttpSession::on_read(beast::error_code ec, std::size_t) {
  if (ec == http::error::body_limit) {
    return send_error(http::status::payload_too_large, "too_large", "request body is too large");
  }
  if (ec == http::error::end_of_stream || ec == beast::error::timeout) return do_close();
  if (ec) {
    if (is_parse_error(ec)) {
      return send_error(http::status::bad_request, "bad_request", "malformed HTTP request");
    }
    return fail(ec, "read");
  }
  handle(parser_->release());
}

void HttpSession::handle(HttpRequest&& req) {
  started_ = std::chrono::steady_clock::now();
  api::Request info = to_api_request(req, remote_addr_, state_->options.trusted_proxies);
  log_method_ = info.method;
  // As sent (still percent-encoded, query left out): a decoded path could carry control
  // characters or spaces into the log line.
  log_path_ = std::string(req.target().substr(0, req.target().find('?')));
  log_addr_ = info.remote_addr;
  hsts_ = wants_hsts(state_->options, info);
  if (proxied_) {
    // The proxy's connection holds a slot of the total; the per-address limit counts the
    // client it names, for as long as this request (or the socket it takes over) lasts.
    client_slot_ = state_->limits->try_acquire_client(info.remote_addr);
    if (!client_slot_) {
      spdlog::warn("event=connection_refused reason=limit addr={} via=proxy", info.remote_addr);
      return send_error(http::status::service_unavailable, "too_many_connections",
                        "too many connections from this address");
    }
  }

  auto parts = api::split_path(info.path);
  bool is_upgrade = websocket::is_upgrade(req);
  for (const auto& t : state_->takeovers) {
    if (t.websocket != is_upgrade) continue;
    if (!t.websocket && t.method != info.method) continue;
    if (!api::match_segments(t.pattern, parts, info.params)) continue;
    stream_.expires_never();
    spdlog::info("event=http method={} path={} takeover={} addr={}", log_method_, log_path_,
                 t.websocket ? "websocket" : "stream", log_addr_);
    // Both bytes already buffered past the request and the socket move to the new owner; a
    // request followed by pipelined data would lose it, which clients of these routes never do.
    ConnectionSlot slot = std::move(slot_);
    if (client_slot_) {
      // One slot that frees both: the connection's and its client's.
      slot = std::make_shared<std::pair<ConnectionSlot, ConnectionSlot>>(std::move(slot),
                                                                         std::move(client_slot_));
    }
    t.handler(Connection{std::move(stream_), std::move(slot)}, std::move(req), std::move(info));
    return;
  }

  unsigned version = req.version();
  bool keep_alive = req.keep_alive();
  bool head = info.method == "HEAD";

  bool is_api = info.path.starts_with("/api/") || info.path == "/healthz";
  if (!is_api && (info.method == "GET" || head)) {
    std::optional<Asset> asset;
    if (info.path.starts_with("/static/")) {
      asset = state_->assets.find(info.path.substr(7));
    } else {
      asset = state_->assets.page_for(info.path);
    }
    if (asset) {
      api::Response res;
      res.content_type = asset->content_type;
      res.body = std::move(asset->body);
      res.set_header("Cache-Control", info.path.starts_with("/static/") ? "no-cache" : "no-store");
      std::string_view ancestors = kNoFraming;
      if (asset->embeddable) ancestors = state_->options.embed_ancestors;
      if (!asset->channel) return send(std::move(res), version, keep_alive, head, ancestors);
      return send_channel_page(std::move(res), *asset->channel, version, keep_alive, head,
                               ancestors);
    }
  }

  // Handlers may block on the database: they run on the blocking pool, and the reply is
  // written back on this connection's loop.
  auto self = shared_from_this();
  auto reply = [self, version, keep_alive, head](api::Response&& res) {
    asio::post(self->stream_.get_executor(),
               [self, res = std::move(res), version, keep_alive, head]() mutable {
                 self->send(std::move(res), version, keep_alive, head);
               });
  };
  post_guarded(
      state_->blocking, "http",
      [self, info = std::move(info), reply]() mutable {
        auto res = api::dispatch(self->state_->router, self->state_->app, info);
        if (res.deferred) {
          // Answered later, from whichever thread has the answer; this thread goes back to
          // the pool and the connection's loop keeps serving its other sockets.
          auto gone = std::make_shared<std::atomic<bool>>(false);
          asio::post(self->stream_.get_executor(), [self, gone] { self->watch_for_close(gone); });
          auto start = std::move(res.deferred);
          return start(api::Response::Reply(reply), gone);
        }
        reply(std::move(res));
      },
      [reply](const Failure& f) {
        reply(f.database_unavailable
                  ? api::error_response(503, "database_unavailable",
                                        "the database is unavailable; try again shortly")
                  : api::error_response(500, "internal", "internal error"));
      });
}

// Nothing reads the socket while an answer is deferred, so a client that closes or resets it
// would hold its place until the answer's deadline: waiting for the socket to turn readable
// shows it (EOF or an error; a pipelined request is data, left for the next read).
void HttpSession::watch_for_close(const std::shared_ptr<std::atomic<bool>>& gone) {
  auto self = shared_from_this();
  stream_.socket().async_wait(tcp::socket::wait_read, [self, gone](beast::error_code ec) {
    char byte = 0;
    auto n = ::recv(self->stream_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (ec || n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) gone->store(true);
  });
}

void HttpSession::send_channel_page(api::Response&& page, const std::string& channel,
                                    unsigned version, bool keep_alive, bool head,
                                    std::string_view frame_ancestors) {
  // The page still renders (it says "No channel"), but a link checker, OBS or a search engine
  // learns from the status that the name is wrong.
  auto name = domain::canonical_username(channel);
  if (!name) {
    page.status = 404;
    return send(std::move(page), version, keep_alive, head, frame_ancestors);
  }
  // The lookup may wait on the database: on the blocking pool, the reply back on this loop.
  auto self = shared_from_this();
  auto res = std::make_shared<api::Response>(std::move(page));
  auto reply = [self, res, version, keep_alive, head, frame_ancestors](int status) {
    asio::post(self->stream_.get_executor(),
               [self, res, status, version, keep_alive, head, frame_ancestors] {
                 res->status = status;
                 self->send(std::move(*res), version, keep_alive, head, frame_ancestors);
               });
  };
  post_guarded(
      state_->blocking, "channel_page",
      [self, name = *name, reply] {
        reply(self->state_->app.auth.find_user_by_username(name) ? 200 : 404);
      },
      // Without the database the page is sent as it is; it learns the rest from its socket.
      [reply](const Failure&) { reply(200); });
}

void HttpSession::send_error(http::status status, std::string_view code, std::string_view message) {
  started_ = std::chrono::steady_clock::now();
  if (log_path_.empty() && parser_) {
    auto target = parser_->get().target();
    log_path_ = std::string(target.substr(0, target.find('?')));
    log_method_ = std::string(parser_->get().method_string());
  }
  // The client may still be sending the request we refused: drain it after the reply.
  linger_ = true;
  send(api::error_response(static_cast<int>(status), code, message), 11, false, false);
}

void HttpSession::send(api::Response&& res, unsigned version, bool keep_alive, bool head,
                       std::string_view frame_ancestors) {
  std::optional<FileSpanBody::value_type> file;
  if (res.file && !head) {
    beast::error_code ec;
    file.emplace();
    file->file.open(res.file->path.c_str(), beast::file_mode::scan, ec);
    if (ec) {
      // Gone between the handler's look and now (deleted, swept).
      res = api::error_response(404, "not_found", "no such file");
      file.reset();
    } else {
      file->offset = res.file->offset;
      file->length = res.file->length;
    }
  }
  auto decorate = [&](auto& out) {
    out.set(http::field::server, "dreamstream");
    if (!res.content_type.empty()) out.set(http::field::content_type, res.content_type);
    for (auto& [k, v] : res.headers) out.insert(k, v);
    apply_security_headers(out, frame_ancestors);
    if (hsts_) out.set(http::field::strict_transport_security, kHstsValue);
    out.keep_alive(keep_alive);
  };
  std::uint64_t size = res.file ? res.file->length : res.body.size();
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_)
                .count();
  spdlog::info("event=http method={} path={} status={} bytes={} ms={:.1f} addr={}", log_method_,
               log_path_, res.status, size, ms, log_addr_.empty() ? remote_addr_ : log_addr_);
  stream_.expires_after(state_->options.read_timeout);
  if (file) {
    auto out = std::make_shared<http::response<FileSpanBody>>(static_cast<http::status>(res.status),
                                                              version);
    decorate(*out);
    out->body() = std::move(*file);
    out->prepare_payload();
    file_response_ = out;
    file_writer_.emplace(*file_response_);
    return write_file_piece(!out->keep_alive());
  }
  auto out = std::make_shared<http::response<http::string_body>>(
      static_cast<http::status>(res.status), version);
  decorate(*out);
  out->body() = std::move(res.body);
  out->prepare_payload();
  if (head) {
    out->body().clear();
    out->content_length(size);
  }
  response_ = out;
  http::async_write(
      stream_, *response_,
      beast::bind_front_handler(&HttpSession::on_write, shared_from_this(), !out->keep_alive()));
}

void HttpSession::write_file_piece(bool close) {
  stream_.expires_after(state_->options.read_timeout);
  http::async_write_some(stream_, *file_writer_,
                         [self = shared_from_this(), close](beast::error_code ec, std::size_t n) {
                           if (!ec && !self->file_writer_->is_done())
                             return self->write_file_piece(close);
                           self->file_writer_.reset();
                           self->on_write(close, ec, n);
                         });
}

void HttpSession::on_write(bool close, beast::error_code ec, std::size_t) {
  response_.reset();
  file_response_.reset();
  client_slot_.reset();  // the request is answered; a proxy's next one may be someone else's
  if (ec) return fail(ec, "write");
  if (close && linger_) return do_linger_close();
  if (close) return do_close();
  log_method_.clear();
  log_path_.clear();
  log_addr_.clear();
  do_read();
}

void HttpSession::do_close() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
}

// Closing a socket with unread input makes the kernel send a reset, which can destroy the
// error reply (e.g. a 413) before the client reads it. So after refusing a request early, stop
// sending, then read and drop what still arrives, for a bounded time and amount.
void HttpSession::do_linger_close() {
  do_close();
  stream_.expires_after(kLingerTimeout);
  buffer_.consume(buffer_.size());
  do_drain();
}

void HttpSession::do_drain() {
  stream_.async_read_some(buffer_.prepare(kDrainChunk),
                          beast::bind_front_handler(&HttpSession::on_drain, shared_from_this()));
}

void HttpSession::on_drain(beast::error_code ec, std::size_t bytes) {
  if (ec) return;  // EOF, reset or timeout: done; the socket closes with this session.
  drained_ += bytes;
  if (drained_ > kMaxDrainBytes) return;
  do_drain();
}

}  // namespace ds::net
