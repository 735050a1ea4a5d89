#include "live/watch_endpoint.hpp"

#include "domain/username.hpp"

namespace ds::live {

WatchEndpoint::WatchEndpoint(Hub& hub, auth::AuthService& auth, StyleService* styles)
    : hub_(hub), auth_(auth), styles_(styles) {}

std::optional<store::User> WatchEndpoint::find_streamer(const std::string& name) {
  return auth_.find_user_by_username(name);
}

Connected<WatchContext> WatchEndpoint::connect(const ConnectRequest& req) {
  auto not_found = Rejection{wire::CloseCode::kNotFound, "not_found", "no such streamer"};
  auto name = domain::canonical_username(req.username);
  if (!name) return not_found;
  auto user = find_streamer(*name);
  if (!user) return not_found;
  WatchContext ctx;
  ctx.username = *name;
  auto me = auth_.from_credentials(req.bearer, req.session_cookie);
  ctx.audience = !me || me->user.id != user->id;
  // The style state as of now; on open the in-memory one wins when the stream is live, so a
  // change between here and there is not lost.
  if (styles_) ctx.styles = wire::encode_styles(styles_->state(*user));
  return ctx;
}

void WatchEndpoint::on_open(WatchContext& ctx, const std::shared_ptr<Peer>& self) {
  hub_.add_viewer(ctx.username, self, ctx.audience);
  if (!styles_) return;
  auto now = styles_->live_event(ctx.username);
  self->send_text(now ? now : ctx.styles);
}

void WatchEndpoint::on_closed(WatchContext& ctx, Peer& self) {
  hub_.remove_viewer(ctx.username, &self);
}

}  // namespace ds::live
