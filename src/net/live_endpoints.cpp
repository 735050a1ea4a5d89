#include "net/live_endpoints.hpp"

#include <spdlog/spdlog.h>

#include "auth/crypto.hpp"
#include "domain/username.hpp"
#include "net/mjpeg_session.hpp"
#include "net/ws_session.hpp"
#include "store/users.hpp"
#include "store/worker_tokens.hpp"

namespace ds::net {

namespace {

constexpr int kClosePolicy = 1008;
constexpr int kCloseEnded = 4002;
constexpr int kCloseUnauthorized = 4401;
constexpr int kCloseNoCredits = 4402;
constexpr int kCloseForbidden = 4403;
constexpr int kCloseNotFound = 4404;
constexpr int kCloseConflict = 4409;
constexpr std::size_t kWatchMaxMessage = 4096;
constexpr std::size_t kWorkerMaxMessage = 16 * 1024 * 1024;

struct Ctx {
  api::App& app;
  live::Hub& hub;
  live::StreamService& streams;
  LiveEndpointsConfig config;
  asio::thread_pool& blocking;
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

std::optional<std::string> bearer(const api::Request& info) {
  if (auto h = info.header("authorization"); h && h->starts_with("Bearer ")) return h->substr(7);
  return std::nullopt;
}

int close_code_for(const Error& e) {
  switch (e.status) {
    case 401: return kCloseUnauthorized;
    case 402: return kCloseNoCredits;
    case 403: return kCloseForbidden;
    case 404: return kCloseNotFound;
    default: return kCloseConflict;
  }
}

void on_ingest(const std::shared_ptr<Ctx>& ctx, beast::tcp_stream&& stream, HttpRequest&& req,
               api::Request&& info) {
  auto ws = std::make_shared<WsSession>(std::move(stream), ctx->config.frame_limits.max_bytes * 2);
  asio::post(ctx->blocking, [ctx, ws, req = std::move(req), info = std::move(info)]() mutable {
    std::optional<store::User> user;
    auto key = bearer(info);
    if (!key) key = info.query_param("key");
    bool via_key = key.has_value();
    if (via_key) {
      user = ctx->app.auth.from_stream_key(*key);
    } else if (auto cookie = info.cookie(api::kSessionCookie)) {
      if (!api::origin_allowed(ctx->app, info, true)) {
        return reject(ws, std::move(req), kCloseForbidden, "forbidden", "cross-origin connection refused");
      }
      if (auto p = ctx->app.auth.from_session_token(*cookie)) user = p->user;
    }
    if (!user) {
      return reject(ws, std::move(req), kCloseUnauthorized, "unauthorized", "log in or use a valid stream key");
    }
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
    // Attached before the handshake answer goes out, so of two connections the one whose
    // handshake the client saw complete last is the one that stays ("the newer one wins").
    // Until the socket opens, what the hub sends it waits in its queue.
    ws->username = username;
    if (!ctx->hub.attach_ingest(username, ws)) {
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
      if (!binary) {
        s.send_text(error_text("bad_frame", "send each frame as one binary message holding a JPEG"));
      } else if (auto ok = domain::validate_jpeg(data, ctx->config.frame_limits); !ok) {
        s.send_text(error_text(ok.error().code, ok.error().message));
      } else {
        s.bad_messages = 0;
        if (!ctx->hub.push_frame(s.username, live::make_bytes(std::move(data)))) {
          s.send_text(error_text("not_started", "the stream is not active"));
          s.close(kCloseEnded, "stream not active");
        }
        return;
      }
      if (++s.bad_messages >= ctx->config.max_bad_frames_in_a_row) s.close(kClosePolicy, "too many bad frames");
    };
    h.on_closed = [ctx](WsSession& s) { ctx->hub.detach_ingest(s.username, &s); };
    ws->accept(std::move(req), std::move(h));
  });
}

void on_watch(const std::shared_ptr<Ctx>& ctx, beast::tcp_stream&& stream, HttpRequest&& req,
              api::Request&& info) {
  auto ws = std::make_shared<WsSession>(std::move(stream), kWatchMaxMessage);
  auto name = domain::canonical_username(info.params["username"]);
  if (!name) return reject(ws, std::move(req), kCloseNotFound, "not_found", "no such streamer");
  asio::post(ctx->blocking, [ctx, ws, req = std::move(req), info = std::move(info), name = *name]() mutable {
    auto user = ctx->app.db.with([&](soci::session& sql) { return store::find_user_by_username(sql, name); });
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
    auto header = nlohmann::json::parse(s.pending_result, nullptr, false);
    s.pending_result.clear();
    std::string job_id = header.value("job_id", "");
    if (auto ok = domain::validate_jpeg(data, ctx->config.frame_limits); !ok) {
      s.send_text(error_text("bad_result", ok.error().message));
      ctx->hub.on_worker_error(s.worker_id, job_id);
      return;
    }
    auto outcome = ctx->hub.on_result(s.worker_id, job_id, live::make_bytes(std::move(data)),
                                      header.value("timings", nlohmann::json::object()));
    if (outcome == live::ResultOutcome::kUnknownJob) {
      s.send_text(error_text("unknown_job", "no such job is assigned to this worker"));
    }
    return;
  }
  auto msg = nlohmann::json::parse(data, nullptr, false);
  if (!msg.is_object() || !msg.contains("type") || !msg["type"].is_string()) {
    s.send_text(error_text("bad_message", "expected a JSON object with a type"));
    return;
  }
  auto type = msg["type"].get<std::string>();
  if (type == "hello") {
    if (s.worker_id != 0) return;
    std::string name = msg.value("name", "worker");
    if (!msg["name"].is_string()) name = "worker";
    name = name.substr(0, 60);
    // Welcome goes out before the first job: both are queued on this connection in order.
    s.send_text(live::make_bytes(nlohmann::json{{"type", "welcome"}, {"name", name}}.dump()));
    s.worker_id = ctx->hub.add_worker(weak.lock(), name);
    spdlog::info("event=worker_connected worker={} addr={}", name, s.remote_addr);
  } else if (type == "result") {
    if (!msg.contains("job_id") || !msg["job_id"].is_string()) {
      s.send_text(error_text("bad_message", "result needs a job_id"));
      return;
    }
    s.pending_result = std::move(data);
  } else if (type == "error") {
    auto job = msg.value("job_id", nlohmann::json()).is_string() ? msg["job_id"].get<std::string>() : "";
    if (!ctx->hub.on_worker_error(s.worker_id, job)) {
      s.send_text(error_text("unknown_job", "no such job is assigned to this worker"));
    }
  } else {
    s.send_text(error_text("bad_message", "unknown message type"));
  }
}

void on_worker(const std::shared_ptr<Ctx>& ctx, beast::tcp_stream&& stream, HttpRequest&& req,
               api::Request&& info) {
  auto ws = std::make_shared<WsSession>(std::move(stream), kWorkerMaxMessage);
  ws->remote_addr = info.remote_addr;
  asio::post(ctx->blocking, [ctx, ws, req = std::move(req), info = std::move(info)]() mutable {
    auto token = bearer(info);
    if (!token) token = info.query_param("token");
    bool valid = false;
    if (token && token->size() < 200) {
      for (const auto& t : ctx->config.worker_tokens) valid = valid || auth::constant_time_equal(t, *token);
      if (!valid) {
        auto digest = auth::sha256_hex(*token);
        valid = ctx->app.db.with([&](soci::session& sql) { return store::worker_token_valid(sql, digest); });
      }
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

void write_json_and_close(beast::tcp_stream&& stream, unsigned version, int status, std::string_view code,
                          std::string_view message) {
  auto s = std::make_shared<beast::tcp_stream>(std::move(stream));
  auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(status), version);
  res->set(http::field::content_type, "application/json");
  apply_security_headers(*res);
  res->keep_alive(false);
  res->body() = api::error_response(status, code, message).body;
  res->prepare_payload();
  http::async_write(*s, *res, [s, res](beast::error_code, std::size_t) {
    beast::error_code ec;
    s->socket().shutdown(tcp::socket::shutdown_send, ec);
  });
}

void on_mjpeg(const std::shared_ptr<Ctx>& ctx, beast::tcp_stream&& stream, HttpRequest&& req,
              api::Request&& info) {
  auto name = domain::canonical_username(info.params["username"]);
  unsigned version = req.version();
  if (!name) return write_json_and_close(std::move(stream), version, 404, "not_found", "no such streamer");
  auto s = std::make_shared<beast::tcp_stream>(std::move(stream));
  asio::post(ctx->blocking, [ctx, s, version, name = *name]() mutable {
    auto user = ctx->app.db.with([&](soci::session& sql) { return store::find_user_by_username(sql, name); });
    if (!user) return write_json_and_close(std::move(*s), version, 404, "not_found", "no such streamer");
    auto session = std::make_shared<MjpegSession>(std::move(*s), [ctx, name](MjpegSession& m) {
      ctx->hub.remove_viewer(name, &m);
    });
    session->start(version);
    ctx->hub.add_viewer(name, session);
  });
}

}  // namespace

void register_live_endpoints(Server& server, api::App& app, live::Hub& hub,
                             live::StreamService& streams, LiveEndpointsConfig config) {
  auto ctx = std::make_shared<Ctx>(Ctx{app, hub, streams, std::move(config), server.blocking_pool()});
  server.add_websocket("/ws/ingest", [ctx](beast::tcp_stream&& s, HttpRequest&& r, api::Request&& i) {
    on_ingest(ctx, std::move(s), std::move(r), std::move(i));
  });
  server.add_websocket("/ws/watch/:username", [ctx](beast::tcp_stream&& s, HttpRequest&& r, api::Request&& i) {
    on_watch(ctx, std::move(s), std::move(r), std::move(i));
  });
  server.add_websocket("/ws/worker", [ctx](beast::tcp_stream&& s, HttpRequest&& r, api::Request&& i) {
    on_worker(ctx, std::move(s), std::move(r), std::move(i));
  });
  server.add_takeover("GET", "/u/:username/stream.mjpeg",
                      [ctx](beast::tcp_stream&& s, HttpRequest&& r, api::Request&& i) {
                        on_mjpeg(ctx, std::move(s), std::move(r), std::move(i));
                      });
}

}  // namespace ds::net
