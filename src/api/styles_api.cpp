// Style requests: viewers ask for a prompt; the streamer approves, rejects, skips and clears.
// The state (what plays, the queue, pending requests) is public.
#include "api/app.hpp"
#include "api/forward.hpp"

namespace ds::api {

namespace {

// The streamer of :username when that is who is logged in; 404, or 403 for anyone else.
Expected<store::User> own_channel(App& app, Request& req, const auth::Principal& p) {
  auto streamer = find_streamer(app, req.params["username"]);
  if (!streamer) return streamer.error();
  if (streamer->id != p.user.id) return forbidden("only the streamer controls the style queue");
  return *streamer;
}

Response handle_request(App& app, Request& req, const auth::Principal& p) {
  auto streamer = find_streamer(app, req.params["username"]);
  if (!streamer) return error_response(streamer.error());
  auto body = parse_json_object(req);
  if (!body) return error_response(body.error());
  auto prompt = string_field(*body, "prompt");
  if (!prompt) return error_response(prompt.error());
  auto done = app.styles->submit(*streamer, p.user, *prompt);
  if (!done) return error_response(done.error());
  return json_response(
      201, {{"request", live::style_request_json(done->request)}, {"styles", done->state}});
}

Response handle_state(App& app, Request& req) {
  auto streamer = find_streamer(app, req.params["username"]);
  if (!streamer) return error_response(streamer.error());
  return json_response(200, app.styles->state(*streamer));
}

template <class Op>
Response with_request(App& app, Request& req, const auth::Principal& p, Op op) {
  auto streamer = own_channel(app, req, p);
  if (!streamer) return error_response(streamer.error());
  auto id = parse_positive_id(req.params["id"]);
  if (!id) return error_response(not_found("no such style request"));
  auto state = op(*streamer, *id);
  if (!state) return error_response(state.error());
  return json_response(200, *state);
}

Response handle_approve(App& app, Request& req, const auth::Principal& p) {
  return with_request(
      app, req, p, [&](const store::User& s, long long id) { return app.styles->approve(s, id); });
}

Response handle_reject(App& app, Request& req, const auth::Principal& p) {
  return with_request(
      app, req, p, [&](const store::User& s, long long id) { return app.styles->reject(s, id); });
}

Response handle_skip(App& app, Request& req, const auth::Principal& p) {
  auto streamer = own_channel(app, req, p);
  if (!streamer) return error_response(streamer.error());
  return json_response(200, app.styles->skip(*streamer));
}

Response handle_clear(App& app, Request& req, const auth::Principal& p) {
  auto streamer = own_channel(app, req, p);
  if (!streamer) return error_response(streamer.error());
  return json_response(200, app.styles->clear(*streamer));
}

}  // namespace

void register_styles_routes(Router& router, App& app) {
  // The queue lives on the stream's home node.
  auto home = [&app](Handler h) { return at_home_of_path(app, std::move(h)); };
  router.add("POST", "/api/streams/:username/styles",
             home(authed(app, handle_request, Scope::kChat)));
  router.add("GET", "/api/streams/:username/styles", home(handler(app, handle_state)));
  router.add("POST", "/api/streams/:username/styles/skip",
             home(authed(app, handle_skip, Scope::kStream)));
  router.add("POST", "/api/streams/:username/styles/clear",
             home(authed(app, handle_clear, Scope::kStream)));
  router.add("POST", "/api/streams/:username/styles/:id/approve",
             home(authed(app, handle_approve, Scope::kStream)));
  router.add("POST", "/api/streams/:username/styles/:id/reject",
             home(authed(app, handle_reject, Scope::kStream)));
}

}  // namespace ds::api
