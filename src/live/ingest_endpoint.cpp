#include "live/ingest_endpoint.hpp"

#include <spdlog/spdlog.h>

#include "auth/crypto.hpp"

namespace ds::live {

using wire::CloseCode;

IngestEndpoint::IngestEndpoint(Hub& hub, StreamService& streams, CredentialWatch& credentials,
                               auth::AuthService& auth, StyleService* styles, IngestConfig config)
    : hub_(hub),
      streams_(streams),
      credentials_(credentials),
      auth_(auth),
      styles_(styles),
      config_(config),
      rules_(auth, streams, hub, config.frame_limits) {}

namespace {

Rejection rejection(const Error& e) { return {wire::close_code_for(e), e.code, e.message}; }

}  // namespace

Connected<IngestContext> IngestEndpoint::connect(const ConnectRequest& req,
                                                 const std::shared_ptr<Peer>& peer) {
  std::optional<store::User> user;
  IngestGrant grant;
  auto key = req.bearer ? req.bearer : req.query_key;
  // A key or a ticket starts the stream when none is active; a cookie needs it started.
  bool starts = key || req.query_ticket;
  if (key) {
    auto found = rules_.streamer_for_key(*key);
    if (!found) return rejection(found.error());
    user = std::move(*found);
    grant.stream_key_hash = auth::sha256_hex(*key);
  } else if (req.query_ticket) {
    if (auto t = auth_.take_ingest_ticket(*req.query_ticket)) {
      user = std::move(t->user);
      grant.session_id = t->session_id;
      grant.api_token_id = t->api_token_id;
    }
  } else if (req.session_cookie) {
    if (!req.origin_allowed) {
      return Rejection{CloseCode::kForbidden, "forbidden", "cross-origin connection refused"};
    }
    if (auto p = auth_.from_session_token(*req.session_cookie)) {
      user = p->user;
      grant.session_id = p->session_id;
    }
  }
  if (!user) {
    return Rejection{CloseCode::kUnauthorized, "unauthorized",
                     req.query_ticket ? "the ingest ticket is unknown, used or expired"
                                      : "log in or use a valid stream key"};
  }
  grant.user_id = user->id;
  if (starts) {
    auto started = rules_.go_live(*user);
    if (!started) return rejection(started.error());
  } else if (!hub_.snapshot(user->username)) {
    // Open on another node (many nodes): it moves here, where its ingest is.
    auto home = streams_.take_home(*user);
    if (!home) return rejection(home.error());
  }
  IngestContext ctx;
  ctx.username = user->username;
  ctx.user_id = user->id;
  if (styles_) ctx.styles = wire::encode_styles(styles_->state(*user));
  if (config_.after_authenticate) config_.after_authenticate();
  // Known to the credential watch before it can stream, so a revocation from now on ends it;
  // then checked once more, so one that came since the check above (a key rotated, a logout
  // while this socket connected) is seen in the database.
  credentials_.add(peer.get(), peer, grant);
  if (!auth_.ingest_credential_valid(grant)) {
    credentials_.remove(peer.get());
    spdlog::info("event=ingest_refused reason=revoked_while_connecting user_id={}", user->id);
    return Rejection{CloseCode::kUnauthorized, "unauthorized",
                     "the credential was revoked while connecting"};
  }
  if (!hub_.attach_ingest(ctx.username, peer)) {
    credentials_.remove(peer.get());
    return Rejection{CloseCode::kEnded, "not_started", "the stream is not active"};
  }
  return ctx;
}

void IngestEndpoint::on_open(IngestContext& ctx, const std::shared_ptr<Peer>& self) {
  if (!ctx.styles || !styles_) return;
  // The in-memory queue wins when there is one: a change since connecting is not lost.
  auto now = styles_->live_event(ctx.username);
  self->send_text(now ? now : ctx.styles);
}

void IngestEndpoint::on_message(IngestContext& ctx, const std::shared_ptr<Peer>& self, bool binary,
                                std::string&& data) {
  auto ok = rules_.check_frame(binary, data);
  if (!ok) {
    self->send_text(wire::encode_error(ok.error().code, ok.error().message));
    if (++ctx.bad_messages >= config_.max_bad_in_a_row) {
      self->close(CloseCode::kPolicy, "too many bad frames");
    }
    return;
  }
  ctx.bad_messages = 0;
  if (auto pushed = rules_.push_frame(ctx.username, std::move(data)); !pushed) {
    self->send_text(wire::encode_error(pushed.error().code, pushed.error().message));
    self->close(CloseCode::kEnded, "stream not active");
  }
}

long long IngestEndpoint::on_closed(IngestContext& ctx, Peer& self, int peer_close_code) {
  credentials_.remove(&self);
  auto session_id = hub_.detach_ingest(ctx.username, &self);
  return peer_close_code == wire::code_value(CloseCode::kNormal) ? session_id : 0;
}

void IngestEndpoint::end_stream(const IngestContext& ctx, long long session_id) {
  if (session_id == 0) return;
  auto ended = streams_.stop_session(ctx.user_id, session_id);
  if (ended) {
    spdlog::info("event=stream_goodbye user_id={} session_id={}", ctx.user_id, session_id);
  }
}

}  // namespace ds::live
