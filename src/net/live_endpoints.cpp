#include "net/live_endpoints.hpp"

#include <spdlog/spdlog.h>

#include "auth/crypto.hpp"
#include "domain/username.hpp"
#include "live/protocol.hpp"
#include "net/guard.hpp"
#include "net/mjpeg_session.hpp"
#include "net/ws_session.hpp"

namespace ds::net {

namespace {

constexpr int kClosePolicy = 1008;
constexpr int kCloseInternal = 1011;
constexpr int kCloseTryAgain = 1013;
constexpr int kCloseEnded = 4002;
constexpr int kCloseUnauthorized = 4401;
constexpr int kCloseNoCredits = 4402;
constexpr int kCloseForbidden = 4403;
constexpr int kCloseNotFound = 4404;
constexpr int kCloseConflict = 4409;
constexpr std::size_t kWatchMaxMessage = 4096;
constexpr std::size_t kWorkerMaxMessage = 16 * 1024 * 1024;  // a result JPEG

struct Ctx {
  api::App& app;
  live::Hub& hub;
  live::StreamService& streams;
  LiveEndpointsConfig config;
  asio::thread_pool& blocking;
  ServerOptions options;
  live::CredentialWatch& credentials;

  WsSession::Limits ws_limits(std::size_t max_message) const {
    return {max_message, options.idle_timeout, options.handshake_timeout};
  }
};

live::Bytes error_text(std::string_view code, std::string_view message) {
  return live::make_bytes(nlohmann::json{{"type", "error"}, {"code", code}, {"message", message}}.dump());
}

// Accepts the upgrade only to say why the connection cannot go on: browsers cannot read an
// HTTP error on a failed upgrade, but they do see a close code and reason.
void reject(const std::shared_ptr<WsSession>& ws, HttpRequest&& req, int code, std::string_view error_code,
            std::string message) {
  WsSession::Handlers h;
  h.on_open = [code, ec = std::string(error_code), message](WsSession& s) {
    s.send_text(error_text(ec, message));
    s.close(code, message.substr(0, 120));
  };
  ws->accept(std::move(req), std::move(h));
}

// The answer to a connect step that threw: 1013 (try again) for a database outage, else 1011.
void reject_failure(const std::shared_ptr<WsSession>& ws, HttpRequest&& req, const Failure& f) {
  if (f.database_unavailable) {
    return reject(ws, std::move(req), kCloseTryAgain, "database_unavailable",
                  "the database is unavailable; try again shortly");
  }
  reject(ws, std::move(req), kCloseInternal, "internal", "internal error");
}

// Runs a WebSocket role's connect step (auth lookups, stream start) on the blocking pool; if
// it throws, the client is told so instead of the process ending.
template <class Fn>
void connect_guarded(const std::shared_ptr<Ctx>& ctx, const char* where,
                     const std::shared_ptr<WsSession>& ws, HttpRequest&& req, Fn fn) {
  auto shared_req = std::make_shared<HttpRequest>(std::move(req));
  post_guarded(
      ctx->blocking, where, [shared_req, fn = std::move(fn)]() mutable { fn(std::move(*shared_req)); },
      [ws, shared_req](const Failure& f) { reject_failure(ws, std::move(*shared_req), f); });
}

int close_code_for(const Error& e) {
  switch (e.kind) {
    case ErrorKind::kUnauthorized: return kCloseUnauthorized;
    case ErrorKind::kPaymentRequired: return kCloseNoCredits;
    case ErrorKind::kForbidden: return kCloseForbidden;
    case ErrorKind::kNotFound: return kCloseNotFound;
    case ErrorKind::kUnavailable: return kCloseTryAgain;  // database_unavailable
    default: return kCloseConflict;
  }
}

void on_ingest(const std::shared_ptr<Ctx>& ctx, Connection&& conn, HttpRequest&& req,
               api::Request&& info) {
  auto ws = std::make_shared<WsSession>(std::move(conn),
                                        ctx->ws_limits(ctx->config.frame_limits.max_bytes * 2));
  connect_guarded(ctx, "ingest_connect", ws, std::move(req), [ctx, ws, info = std::move(info)](HttpRequest&& req) {
    std::optional<store::User> user;
    live::IngestGrant grant;
    auto key = info.bearer_token();
    if (!key) key = info.query_param("key");
    bool via_key = key.has_value();
    if (via_key) {
      user = ctx->app.auth.from_stream_key(*key);
    } else if (auto cookie = info.cookie(api::kSessionCookie)) {
      if (!api::origin_allowed(ctx->app, info, true)) {
        return reject(ws, std::move(req), kCloseForbidden, "forbidden", "cross-origin connection refused");
      }
      if (auto p = ctx->app.auth.from_session_token(*cookie)) {
        user = p->user;
        grant.session_id = p->session_id;
      }
    }
    if (!user) {
      return reject(ws, std::move(req), kCloseUnauthorized, "unauthorized", "log in or use a valid stream key");
    }
    grant.user_id = user->id;
    if (via_key) {
      auto started = ctx->streams.ensure_started(*user);
      if (!started) {
        return reject(ws, std::move(req), close_code_for(started.error()), started.error().code,
                      started.error().message);
      }
    } else if (!ctx->hub.snapshot(user->username)) {
      return reject(ws, std::move(req), kCloseConflict, "not_started", "start the stream first");
    }
    std::string username = user->username;
    live::Bytes styles;
    if (ctx->app.styles) styles = live::styles_event(ctx->app.styles->state(*user));
    // Known to the credential watch before it can stream, so a revocation from now on ends it.
    ctx->credentials.add(ws.get(), ws, grant);
    // Attached before the handshake answer goes out, so of two connections the one whose
    // handshake the client saw complete last is the one that stays ("the newer one wins").
    // Until the socket opens, what the hub sends it waits in its queue.
    ws->username = username;
    if (!ctx->hub.attach_ingest(username, ws)) {
      ctx->credentials.remove(ws.get());
      return reject(ws, std::move(req), kCloseEnded, "not_started", "the stream is not active");
    }
    WsSession::Handlers h;
    h.on_open = [ctx, username, styles](WsSession& s) {
      // The streamer's cockpit starts from the current style queue, like a viewer's page.
      if (styles) {
        auto now = ctx->app.styles->live_event(username);
        s.send_text(now ? now : styles);
      }
    };
    h.on_message = [ctx](WsSession& s, bool binary, std::string&& data) {
      auto ok = live::wire::check_ingest_message(binary, data, ctx->config.frame_limits);
      if (!ok) {
        s.send_text(error_text(ok.error().code, ok.error().message));
        if (++s.bad_messages >= ctx->config.max_bad_frames_in_a_row) s.close(kClosePolicy, "too many bad frames");
        return;
      }
      s.bad_messages = 0;
      if (!ctx->hub.push_frame(s.username, live::make_bytes(std::move(data)))) {
        s.send_text(error_text("not_started", "the stream is not active"));
        s.close(kCloseEnded, "stream not active");
      }
    };
    h.on_closed = [ctx](WsSession& s) {
      ctx->credentials.remove(&s);
      ctx->hub.detach_ingest(s.username, &s);
    };
    ws->accept(std::move(req), std::move(h));
  });
}

void on_watch(const std::shared_ptr<Ctx>& ctx, Connection&& conn, HttpRequest&& req,
              api::Request&& info) {
  auto ws = std::make_shared<WsSession>(std::move(conn), ctx->ws_limits(kWatchMaxMessage));
  auto name = domain::canonical_username(info.params["username"]);
  if (!name) return reject(ws, std::move(req), kCloseNotFound, "not_found", "no such streamer");
  connect_guarded(ctx, "watch_connect", ws, std::move(req),
                  [ctx, ws, info = std::move(info), name = *name](HttpRequest&& req) mutable {
    auto user = ctx->app.auth.find_user_by_username(name);
    if (!user) return reject(ws, std::move(req), kCloseNotFound, "not_found", "no such streamer");
    // The streamer watching their own output (the studio's preview) is not audience.
    auto me = api::optional_user(ctx->app, info);
    bool audience = !me || me->user.id != user->id;
    // The style state as of now; on open the in-memory one wins when the stream is live, so a
    // change between here and there is not lost.
    live::Bytes styles;
    if (ctx->app.styles) styles = live::styles_event(ctx->app.styles->state(*user));
    WsSession::Handlers h;
    h.on_open = [ctx, ws_weak = std::weak_ptr<WsSession>(ws), name, styles, audience](WsSession& s) {
      s.username = name;
      ctx->hub.add_viewer(name, ws_weak.lock(), audience);
      if (!ctx->app.styles) return;
      auto now = ctx->app.styles->live_event(name);
      s.send_text(now ? now : styles);
    };
    h.on_message = [](WsSession&, bool, std::string&&) {};  // viewers only listen
    h.on_closed = [ctx](WsSession& s) { ctx->hub.remove_viewer(s.username, &s); };
    ws->accept(std::move(req), std::move(h));
  });
}

void on_worker_message(const std::shared_ptr<Ctx>& ctx, const std::weak_ptr<WsSession>& weak, WsSession& s,
                       bool binary, std::string&& data) {
  if (binary) {
    if (s.pending_result.empty() || s.worker_id == 0) {
      s.send_text(error_text("unexpected_binary", "send a result header before its JPEG"));
      return;
    }
    // The header was checked when it came; its job id is kept in canonical form.
    std::string job_id = std::move(s.pending_result);
    s.pending_result.clear();
    if (auto ok = domain::validate_jpeg(data, ctx->config.frame_limits); !ok) {
      s.send_text(error_text("bad_result", ok.error().message));
      ctx->hub.on_worker_error(s.worker_id, job_id);
      return;
    }
    auto outcome = ctx->hub.on_result(s.worker_id, job_id, live::make_bytes(std::move(data)),
                                      s.pending_timings);
    s.pending_timings = nlohmann::json();
    if (outcome == live::ResultOutcome::kUnknownJob) {
      s.send_text(error_text("unknown_job", "no such job is assigned to this worker"));
    }
    return;
  }
  auto parsed = live::wire::parse_worker_text(data);
  if (!parsed) {
    s.send_text(error_text(parsed.error().code, parsed.error().message));
    if (++s.bad_messages >= ctx->config.max_bad_frames_in_a_row) s.close(kClosePolicy, "too many bad messages");
    return;
  }
  s.bad_messages = 0;
  std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, live::wire::Hello>) {
          if (s.worker_id != 0) return;
          // Welcome goes out before the first job: both are queued on this connection in order.
          s.send_text(live::make_bytes(nlohmann::json{{"type", "welcome"}, {"name", m.name}}.dump()));
          s.worker_id = ctx->hub.add_worker(weak.lock(), m.name);
          spdlog::info("event=worker_connected worker={} addr={}", m.name, s.remote_addr);
        } else if constexpr (std::is_same_v<T, live::wire::ResultHeader>) {
          s.pending_result = live::wire::job_id_text(m.job_id);
          s.pending_timings = std::move(m.timings);
        } else {
          if (!ctx->hub.on_worker_error(s.worker_id, live::wire::job_id_text(m.job_id))) {
            s.send_text(error_text("unknown_job", "no such job is assigned to this worker"));
          }
        }
      },
      *parsed);
}

void on_worker(const std::shared_ptr<Ctx>& ctx, Connection&& conn, HttpRequest&& req,
               api::Request&& info) {
  auto ws = std::make_shared<WsSession>(std::move(conn), ctx->ws_limits(kWorkerMaxMessage));
  ws->remote_addr = info.remote_addr;
  connect_guarded(ctx, "worker_connect", ws, std::move(req),
                  [ctx, ws, info = std::move(info)](HttpRequest&& req) mutable {
    auto token = info.bearer_token();
    if (!token) token = info.query_param("token");
    bool valid = false;
    if (token && token->size() < 200) {
      for (const auto& t : ctx->config.worker_tokens) valid = valid || auth::constant_time_equal(t, *token);
      if (!valid) valid = ctx->app.auth.worker_token_valid(*token);
    }
    if (!valid) return reject(ws, std::move(req), kCloseUnauthorized, "unauthorized", "a valid worker token is required");
    WsSession::Handlers h;
    auto weak = std::weak_ptr<WsSession>(ws);
    h.on_message = [ctx, weak](WsSession& s, bool binary, std::string&& data) {
      on_worker_message(ctx, weak, s, binary, std::move(data));
    };
    h.on_closed = [ctx](WsSession& s) {
      if (s.worker_id != 0) ctx->hub.remove_worker(s.worker_id);
    };
    ws->accept(std::move(req), std::move(h));
  });
}

void write_json_and_close(Connection&& conn, unsigned version, int status, std::string_view code,
                          std::string_view message) {
  auto c = std::make_shared<Connection>(std::move(conn));
  auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(status), version);
  res->set(http::field::content_type, "application/json");
  apply_security_headers(*res);
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
  if (!name) return write_json_and_close(std::move(conn), version, 404, "not_found", "no such streamer");
  auto c = std::make_shared<Connection>(std::move(conn));
  auto handed = std::make_shared<bool>(false);  // the connection moved into a session
  post_guarded(
      ctx->blocking, "mjpeg_connect",
      [ctx, c, handed, version, name = *name]() mutable {
        auto user = ctx->app.auth.find_user_by_username(name);
        if (!user) {
          *handed = true;
          return write_json_and_close(std::move(*c), version, 404, "not_found", "no such streamer");
        }
        *handed = true;
        auto session = std::make_shared<MjpegSession>(
            std::move(*c), ctx->options.idle_timeout,
            [ctx, name](MjpegSession& m) { ctx->hub.remove_viewer(name, &m); });
        // Registered first, started second: a client already gone is then removed, not leaked.
        ctx->hub.add_viewer(name, session);
        session->start(version);
      },
      [c, handed, version](const Failure& f) {
        if (*handed) return;  // the session owns the socket and closes it
        if (f.database_unavailable) {
          return write_json_and_close(std::move(*c), version, 503, "database_unavailable",
                                      "the database is unavailable; try again shortly");
        }
        write_json_and_close(std::move(*c), version, 500, "internal", "internal error");
      });
}

}  // namespace

void register_live_endpoints(Server& server, api::App& app, live::Hub& hub,
                             live::StreamService& streams, live::CredentialWatch& credentials,
                             LiveEndpointsConfig config) {
  auto ctx = std::make_shared<Ctx>(
      Ctx{app, hub, streams, std::move(config), server.blocking_pool(), server.options(), credentials});
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
