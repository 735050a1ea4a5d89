#include "net/live_endpoints.hpp"

#include <spdlog/spdlog.h>

#include "domain/username.hpp"
#include "live/ingest_endpoint.hpp"
#include "live/protocol.hpp"
#include "live/watch_endpoint.hpp"
#include "live/worker_endpoint.hpp"
#include "net/guard.hpp"
#include "net/mjpeg_session.hpp"
#include "net/ws_session.hpp"

namespace ds::net {

namespace {

using live::wire::CloseCode;

constexpr std::size_t kWatchMaxMessage = 4096;
constexpr std::size_t kWorkerMaxMessage = 16 * 1024 * 1024;  // a result JPEG
// A worker's socket may take this long to write one message (less when the idle timeout is
// shorter): under the job timeout, so a worker that stops reading is dropped for it (1008)
// before its jobs time out.
constexpr std::chrono::milliseconds kWorkerWriteTimeout{10'000};

struct Ctx {
  asio::thread_pool& blocking;
  ServerOptions options;
  std::size_t ingest_max_message;
  std::size_t frame_max_bytes;
  const api::App& app;  // for the origin rule
  live::Hub& hub;
  live::IngestEndpoint ingest;
  live::WatchEndpoint watch;
  live::WorkerEndpoint worker;

  // Viewers and streamers get frames latest-wins and bounded texts, never ordered messages;
  // a write may take the idle timeout, as an MJPEG write may.
  WsSession::Limits ws_limits(std::size_t max_message) const {
    WsSession::Limits l{max_message, options.idle_timeout, options.handshake_timeout};
    l.queue.write_timeout_ms = options.idle_timeout.count();
    return l;
  }
  // A worker's jobs: the hub gives none past live::kWorkerQueueFull, but a step that decides
  // while another's jobs are on their way to the socket may add one more message (a batch of
  // the largest frames) before it sees them. Room for two such, and cancels; past that the
  // worker is dropped.
  WsSession::Limits worker_limits() const {
    auto l = ws_limits(kWorkerMaxMessage);
    l.queue.write_timeout_ms = std::min(options.idle_timeout, kWorkerWriteTimeout).count();
    std::size_t batch_messages = live::wire::kMaxBatch + 1;
    std::size_t batch_bytes = live::wire::kMaxBatch * (frame_max_bytes + 4096);
    l.queue.max_messages = live::kWorkerQueueFull.messages + 2 * batch_messages + 64;
    l.queue.max_bytes = live::kWorkerQueueFull.bytes + 2 * batch_bytes;
    return l;
  }
};

// Accepts the upgrade only to say why the connection cannot go on: browsers cannot read an
// HTTP error on a failed upgrade, but they do see a close code and reason.
void reject(const std::shared_ptr<WsSession>& ws, HttpRequest&& req, const live::Rejection& r) {
  WsSession::Handlers h;
  h.on_open = [r](WsSession& s) {
    s.send_text(live::wire::encode_error(r.error, r.message));
    s.close(r.code, r.message.substr(0, 120));
  };
  ws->accept(std::move(req), std::move(h));
}

// The answer to a connect step that threw: 1013 (try again) for a database outage, else 1011.
void reject_failure(const std::shared_ptr<WsSession>& ws, HttpRequest&& req, const Failure& f) {
  if (f.database_unavailable) {
    return reject(ws, std::move(req),
                  {CloseCode::kTryAgain, "database_unavailable",
                   "the database is unavailable; try again shortly"});
  }
  reject(ws, std::move(req), {CloseCode::kInternal, "internal", "internal error"});
}

live::ConnectRequest connect_request(const api::App& app, const api::Request& info) {
  live::ConnectRequest r;
  r.bearer = info.bearer_token();
  r.query_key = info.query_param("key");
  r.query_ticket = info.query_param("ticket");
  r.query_token = info.query_param("token");
  r.query_video = info.query_param("video");
  r.session_cookie = info.cookie(api::kSessionCookie);
  r.origin_allowed = api::origin_allowed(app, info, true);
  r.remote_addr = info.remote_addr;
  if (auto it = info.params.find("username"); it != info.params.end()) r.username = it->second;
  return r;
}

// A viewer's: one that asks for no pictures starts no encoder for them either.
live::ConnectRequest watch_request(const api::App& app, const api::Request& info) {
  auto r = connect_request(app, info);
  if (info.query_param("frames") == "none") r.query_video.reset();
  return r;
}

// `?frames=inline`: processed frames as one binary message each; `?frames=none`: no pictures,
// only the events (docs/protocol.md).
void choose_frame_format(WsSession& ws, const api::Request& info) {
  auto frames = info.query_param("frames");
  ws.set_inline_frames(frames == "inline");
  ws.set_pictures(frames != "none");
}

// Hands a socket's events to a role's endpoint together with the connection's context; the
// socket's event loop serialises them, so the context needs no lock.
template <class Endpoint, class Context>
void accept_role(const std::shared_ptr<Ctx>& ctx, const std::shared_ptr<WsSession>& ws,
                 HttpRequest&& req, std::shared_ptr<Endpoint> endpoint, Context&& context) {
  auto c = std::make_shared<std::decay_t<Context>>(std::forward<Context>(context));
  WsSession::Handlers h;
  h.on_open = [endpoint, c](WsSession& s) { endpoint->on_open(*c, s.shared_from_this()); };
  h.on_message = [endpoint, c](WsSession& s, bool binary, std::string&& data) {
    endpoint->on_message(*c, s.shared_from_this(), binary, std::move(data));
  };
  if constexpr (std::is_same_v<Endpoint, live::IngestEndpoint>) {
    // A streamer's goodbye (close 1000) ends the stream at once; ending it bills and writes to
    // the database, so it runs on the blocking pool.
    h.on_closed = [ctx, endpoint, c](WsSession& s) {
      auto session_id = endpoint->on_closed(*c, s, s.peer_close_code());
      if (session_id == 0) return;
      post_guarded(
          ctx->blocking, "ingest_goodbye",
          [endpoint, c, session_id] { endpoint->end_stream(*c, session_id); },
          [](const Failure&) {});  // the grace period ends it
    };
  } else {
    h.on_closed = [endpoint, c](WsSession& s) { endpoint->on_closed(*c, s); };
  }
  ws->accept(std::move(req), std::move(h));
}

// Runs a role's connect step (auth lookups, stream start) on the blocking pool, then accepts
// or rejects the upgrade; if the step throws, the client is told so instead of the process
// ending. connect: (Endpoint&) -> live::Connected<Context>.
template <class Endpoint, class Connect>
void connect_guarded(const std::shared_ptr<Ctx>& ctx, const char* where,
                     const std::shared_ptr<WsSession>& ws, HttpRequest&& req,
                     std::shared_ptr<Endpoint> endpoint, Connect connect) {
  auto shared_req = std::make_shared<HttpRequest>(std::move(req));
  post_guarded(
      ctx->blocking, where,
      [ctx, ws, shared_req, endpoint, connect = std::move(connect)] {
        auto result = connect(*endpoint);
        if (auto* r = std::get_if<live::Rejection>(&result)) {
          return reject(ws, std::move(*shared_req), *r);
        }
        accept_role(ctx, ws, std::move(*shared_req), endpoint, std::move(std::get<1>(result)));
      },
      [ws, shared_req](const Failure& f) { reject_failure(ws, std::move(*shared_req), f); });
}

// The endpoint, kept alive by the shared context for as long as a connection uses it.
template <class Endpoint>
std::shared_ptr<Endpoint> share(const std::shared_ptr<Ctx>& ctx, Endpoint& endpoint) {
  return std::shared_ptr<Endpoint>(ctx, &endpoint);
}

void on_ingest(const std::shared_ptr<Ctx>& ctx, Connection&& conn, HttpRequest&& req,
               api::Request&& info) {
  auto ws = std::make_shared<WsSession>(std::move(conn), ctx->ws_limits(ctx->ingest_max_message));
  ws->set_hsts(wants_hsts(ctx->options, info));
  choose_frame_format(*ws, info);
  connect_guarded(ctx, "ingest_connect", ws, std::move(req), share(ctx, ctx->ingest),
                  [r = connect_request(ctx->app, info), ws](live::IngestEndpoint& e) {
                    return e.connect(r, ws);
                  });
}

void on_watch(const std::shared_ptr<Ctx>& ctx, Connection&& conn, HttpRequest&& req,
              api::Request&& info) {
  auto ws = std::make_shared<WsSession>(std::move(conn), ctx->ws_limits(kWatchMaxMessage));
  ws->set_hsts(wants_hsts(ctx->options, info));
  choose_frame_format(*ws, info);
  // A video viewer gets its JPEG frames (before the first keyframe) inline too, so that every
  // binary message says what it is.
  if (info.query_param("video")) ws->set_inline_frames(true);
  connect_guarded(
      ctx, "watch_connect", ws, std::move(req), share(ctx, ctx->watch),
      [r = watch_request(ctx->app, info)](live::WatchEndpoint& e) { return e.connect(r); });
}

void on_worker(const std::shared_ptr<Ctx>& ctx, Connection&& conn, HttpRequest&& req,
               api::Request&& info) {
  auto ws = std::make_shared<WsSession>(std::move(conn), ctx->worker_limits());
  ws->set_hsts(wants_hsts(ctx->options, info));
  connect_guarded(
      ctx, "worker_connect", ws, std::move(req), share(ctx, ctx->worker),
      [r = connect_request(ctx->app, info)](live::WorkerEndpoint& e) { return e.connect(r); });
}

void write_json_and_close(Connection&& conn, unsigned version, bool hsts, int status,
                          std::string_view code, std::string_view message) {
  auto c = std::make_shared<Connection>(std::move(conn));
  auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(status),
                                                                 version);
  res->set(http::field::content_type, "application/json");
  apply_security_headers(*res);
  if (hsts) res->set(http::field::strict_transport_security, kHstsValue);
  res->keep_alive(false);
  res->body() = api::error_response(status, code, message).body;
  res->prepare_payload();
  c->stream.expires_after(std::chrono::seconds(10));
  http::async_write(c->stream, *res, [c, res](beast::error_code, std::size_t) {
    beast::error_code ec;
    c->stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  });
}

void on_mjpeg(const std::shared_ptr<Ctx>& ctx, Connection&& conn, HttpRequest&& req,
              api::Request&& info) {
  auto name = domain::canonical_username(info.params["username"]);
  unsigned version = req.version();
  bool hsts = wants_hsts(ctx->options, info);
  if (!name) {
    return write_json_and_close(std::move(conn), version, hsts, 404, "not_found",
                                "no such streamer");
  }
  auto c = std::make_shared<Connection>(std::move(conn));
  auto handed = std::make_shared<bool>(false);  // the connection moved into a session
  post_guarded(
      ctx->blocking, "mjpeg_connect",
      [ctx, c, handed, version, hsts, name = *name]() mutable {
        if (!ctx->watch.find_streamer(name)) {
          *handed = true;
          return write_json_and_close(std::move(*c), version, hsts, 404, "not_found",
                                      "no such streamer");
        }
        *handed = true;
        auto session = std::make_shared<MjpegSession>(
            std::move(*c), ctx->options.idle_timeout,
            [ctx, name](MjpegSession& m) { ctx->hub.remove_viewer(name, &m); });
        // Registered first, started second: a client already gone is then removed, not leaked.
        ctx->hub.add_viewer(name, session, true, ctx->hub.announced_state(name));
        session->start(version, hsts);
      },
      [c, handed, version, hsts](const Failure& f) {
        if (*handed) return;  // the session owns the socket and closes it
        if (f.database_unavailable) {
          return write_json_and_close(std::move(*c), version, hsts, 503, "database_unavailable",
                                      "the database is unavailable; try again shortly");
        }
        write_json_and_close(std::move(*c), version, hsts, 500, "internal", "internal error");
      });
}

}  // namespace

void register_live_endpoints(Server& server, api::App& app, live::Hub& hub,
                             live::StreamService& streams, live::CredentialWatch& credentials,
                             LiveEndpointsConfig config) {
  live::IngestConfig ingest{config.frame_limits, config.max_bad_frames_in_a_row};
  live::WorkerConfig worker{config.frame_limits, config.worker_tokens,
                            config.max_bad_frames_in_a_row, config.worker_token_watch};
  auto ctx = std::make_shared<Ctx>(Ctx{
      server.blocking_pool(),
      server.options(),
      config.frame_limits.max_bytes * 2,
      config.frame_limits.max_bytes,
      app,
      hub,
      live::IngestEndpoint(hub, streams, credentials, app.auth, app.styles, ingest),
      live::WatchEndpoint(hub, app.auth, app.styles, config.video),
      live::WorkerEndpoint(hub, app.auth, std::move(worker)),
  });
  auto route = [ctx](auto fn) {
    return [ctx, fn](Connection&& c, HttpRequest&& r, api::Request&& i) {
      fn(ctx, std::move(c), std::move(r), std::move(i));
    };
  };
  server.add_websocket("/ws/ingest", route(on_ingest));
  server.add_websocket("/ws/watch/:username", route(on_watch));
  server.add_websocket("/ws/worker", route(on_worker));
  server.add_takeover("GET", "/u/:username/stream.mjpeg", route(on_mjpeg));
}

}  // namespace ds::net
