// Comments: post to a live stream's chat, list them (public), delete (streamer or author).
#include "api/app.hpp"

namespace ds::api {

namespace {

constexpr int kDefaultPage = 50;
constexpr int kMaxPage = 100;

Response handle_post(App& app, Request& req) {
  auto p = require_user(app, req);
  if (!p) return error_response(p.error());
  auto streamer = find_streamer(app, req.params["username"]);
  if (!streamer) return error_response(streamer.error());
  auto body = parse_json_object(req);
  if (!body) return error_response(body.error());
  auto text = string_field(*body, "body");
  if (!text) return error_response(text.error());
  auto comment = app.chat->post(*streamer, p->user, *text);
  if (!comment) return error_response(comment.error());
  return json_response(201, {{"comment", live::comment_json(*comment)}});
}

Response handle_list(App& app, Request& req) {
  auto streamer = find_streamer(app, req.params["username"]);
  if (!streamer) return error_response(streamer.error());
  long long before = 0;
  int limit = kDefaultPage;
  if (auto b = req.query_param("before")) {
    auto v = parse_positive_id(*b);
    if (!v) return error_response(400, "invalid_query", "before must be a comment id");
    before = *v;
  }
  if (auto l = req.query_param("limit")) {
    auto v = parse_positive_id(*l);
    if (!v || *v > kMaxPage) return error_response(400, "invalid_query", "limit must be 1–100");
    limit = static_cast<int>(*v);
  }
  auto page = app.chat->list(streamer->id, before, limit);
  auto list = nlohmann::json::array();
  for (const auto& c : page.comments) list.push_back(live::comment_json(c));
  return json_response(200, {{"comments", list},
                             {"next_before", page.next_before > 0 ? nlohmann::json(page.next_before)
                                                                  : nlohmann::json()}});
}

Response handle_delete(App& app, Request& req) {
  auto p = require_user(app, req);
  if (!p) return error_response(p.error());
  auto streamer = find_streamer(app, req.params["username"]);
  if (!streamer) return error_response(streamer.error());
  auto id = parse_positive_id(req.params["id"]);
  if (!id) return error_response(404, "not_found", "no such comment");
  auto done = app.chat->remove(*streamer, p->user.id, *id);
  if (!done) return error_response(done.error());
  return json_response(200, {{"deleted", true}});
}

}  // namespace

void register_comments_routes(Router& router, App& app) {
  auto bind = [&app](Response (*fn)(App&, Request&)) {
    return [&app, fn](Request& r) { return fn(app, r); };
  };
  router.add("POST", "/api/streams/:username/comments", bind(handle_post));
  router.add("GET", "/api/streams/:username/comments", bind(handle_list));
  router.add("DELETE", "/api/streams/:username/comments/:id", bind(handle_delete));
}

}  // namespace ds::api
