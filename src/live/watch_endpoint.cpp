#include "live/watch_endpoint.hpp"

#include "domain/username.hpp"

namespace ds::live {

WatchEndpoint::WatchEndpoint(Hub& hub, auth::AuthService& auth, StyleService* styles,
                             VideoHub* video)
    : hub_(hub), auth_(auth), styles_(styles), video_(video) {}

std::optional<store::User> WatchEndpoint::find_streamer(const std::string& name) {
  return auth_.find_user_by_username(name);
}

Connected<WatchContext> WatchEndpoint::connect(const ConnectRequest& req) {
  if (req.query_video && *req.query_video != "h264") {
    return Rejection{wire::CloseCode::kPolicy, "unsupported_video",
                     "video must be h264 (or left out for JPEG frames)"};
  }
  auto not_found = Rejection{wire::CloseCode::kNotFound, "not_found", "no such streamer"};
  auto name = domain::canonical_username(req.username);
  if (!name) return not_found;
  auto user = find_streamer(*name);
  if (!user) return not_found;
  WatchContext ctx;
  ctx.username = *name;
  auto me = auth_.from_credentials(req.bearer, req.session_cookie);
  ctx.audience = !me || me->user.id != user->id;
  ctx.video = req.query_video.has_value() && video_ != nullptr;
  // Looked up here, on the blocking pool, so that joining never waits on an io thread.
  ctx.announced = hub_.announced_state(ctx.username);
  // The style state as of now; on open the in-memory one wins when the stream is live, so a
  // change between here and there is not lost. A stream homed elsewhere that this node
  // already follows: the queue as last heard on its channel, without a call to its home.
  if (styles_) {
    if (auto heard = hub_.remote_styles(ctx.username)) {
      ctx.styles = std::move(heard);
    } else {
      ctx.styles = wire::encode_styles(styles_->state(*user));
      ctx.styles_from_home = ctx.announced.has_value();
    }
  }
  return ctx;
}

void WatchEndpoint::on_open(WatchContext& ctx, const std::shared_ptr<Peer>& self) {
  hub_.add_viewer(ctx.username, self, ctx.audience, ctx.announced);
  // After the hub's join: its latest JPEG shows until the video's first unit replaces it.
  if (ctx.video) video_->add_viewer(ctx.username, self);
  if (!styles_) return;
  if (ctx.styles_from_home) hub_.remember_styles(ctx.username, ctx.styles);
  auto now = styles_->live_event(ctx.username);
  if (!now) now = hub_.remote_styles(ctx.username);
  self->send_text(now ? now : ctx.styles);
}

void WatchEndpoint::on_closed(WatchContext& ctx, Peer& self) {
  hub_.remove_viewer(ctx.username, &self);
  if (ctx.video) video_->remove_viewer(ctx.username, &self);
}

}  // namespace ds::live
