// Comments: post to a live stream's chat, list them (public), delete (streamer or author).
#include "api/app.hpp"

namespace ds::api {

namespace {

constexpr int kDefaultPage = 50;
constexpr int kMaxPage = 100;

Response handle_post(App& app, Request& req, const auth::Principal& p) {
  auto streamer = find_streamer(app, req.params["username"]);
  if (!streamer) return error_response(streamer.error());
  auto body = parse_json_object(req);
  if (!body) return error_response(body.error());
  auto text = string_field(*body, "body");
  if (!text) return error_response(text.error());
  auto comment = app.chat->post(*streamer, p.user, *text);
  if (!comment) return error_response(comment.error());
  return json_response(201, {{"comment", live::comment_json(*comment)}});
}

Response handle_list(App& app, Request& req) {
  auto streamer = find_streamer(app, req.params["username"]);
  if (!streamer) return error_response(streamer.error());
  auto query = parse_page(req, kDefaultPage, kMaxPage);
  if (!query) return error_response(query.error());
  // ?session=<id>: one stream session's comments, for the replay of its recording.
  long long session = 0;
  if (auto s = req.query_param("session")) {
    auto id = parse_positive_id(*s);
    if (!id) return error_response(bad_request("session must be a session id", "invalid_query"));
    session = *id;
  }
  auto page = app.chat->list(streamer->id, query->before, query->limit, session);
  auto list = nlohmann::json::array();
  for (const auto& c : page.comments) list.push_back(live::comment_json(c));
  return json_response(200, {{"comments", list},
                             {"next_before", page.next_before > 0 ? nlohmann::json(page.next_before)
                                                                  : nlohmann::json()}});
}

Response handle_delete(App& app, Request& req, const auth::Principal& p) {
  auto streamer = find_streamer(app, req.params["username"]);
  if (!streamer) return error_response(streamer.error());
  auto id = parse_positive_id(req.params["id"]);
  if (!id) return error_response(not_found("no such comment"));
  auto done = app.chat->remove(*streamer, p.user.id, *id);
  if (!done) return error_response(done.error());
  return json_response(200, {{"deleted", true}});
}

}  // namespace

void register_comments_routes(Router& router, App& app) {
  router.add("POST", "/api/streams/:username/comments", authed(app, handle_post, Scope::kChat));
  router.add("GET", "/api/streams/:username/comments", handler(app, handle_list));
  router.add("DELETE", "/api/streams/:username/comments/:id",
             authed(app, handle_delete, Scope::kChat));
}

}  // namespace ds::api
