// Profile: display name and e-mail, password, sessions, API tokens, stream key, deletion.
#include "api/app.hpp"
#include "api/forward.hpp"
#include "auth/crypto.hpp"
#include "live/recorder.hpp"

namespace ds::api {

namespace {

Response handle_update(App& app, Request& req, const auth::Principal& p) {
  auto body = parse_json_object(req);
  if (!body) return error_response(body.error());
  std::optional<std::string> name, email;
  if (body->contains("display_name")) {
    auto v = string_field(*body, "display_name");
    if (!v) return error_response(v.error());
    name = *v;
  }
  if (body->contains("email")) {
    auto v = string_field(*body, "email");
    if (!v) return error_response(v.error());
    email = *v;
  }
  if (!name && !email) return error_response(bad_request("nothing to change", "missing_field"));
  auto user = app.auth.update_profile(p.user.id, name, email);
  if (!user) return error_response(user.error());
  return json_response(200, {{"user", user_json(app, *user)}});
}

Response handle_password(App& app, Request& req, const auth::Principal& p) {
  auto body = parse_json_object(req);
  if (!body) return error_response(body.error());
  auto current = string_field(*body, "current_password");
  if (!current) return error_response(current.error());
  auto next = string_field(*body, "new_password");
  if (!next) return error_response(next.error());
  auto ok = app.auth.change_password(p.user.id, *current, *next, p.session_id);
  if (!ok) return error_response(ok.error());
  // The other sessions just ended; so do the live sockets they let in.
  revoke(app, p.user.username, {Revocation::Kind::kSessionsExcept, p.user.id, p.session_id});
  return json_response(200, {{"ok", true}});
}

Response handle_sessions(App& app, Request&, const auth::Principal& p) {
  auto list = nlohmann::json::array();
  for (const auto& s : app.auth.sessions(p.user.id)) {
    list.push_back({{"id", s.id},
                    {"created_ms", s.created_ms},
                    {"last_seen_ms", s.last_seen_ms},
                    {"expires_ms", s.expires_ms},
                    {"user_agent", s.user_agent},
                    {"ip", s.ip},
                    {"current", s.id == p.session_id}});
  }
  return json_response(200, {{"sessions", list}});
}

Response handle_revoke_session(App& app, Request& req, const auth::Principal& p) {
  auto id = parse_positive_id(req.params["id"]);
  if (!id || !app.auth.revoke_session(p.user.id, *id)) {
    return error_response(not_found("no such session"));
  }
  revoke(app, p.user.username, {Revocation::Kind::kSession, p.user.id, *id});
  return json_response(200, {{"ok", true}});
}

Response handle_tokens(App& app, Request&, const auth::Principal& p) {
  auto list = nlohmann::json::array();
  for (const auto& t : app.auth.api_tokens(p.user.id)) {
    list.push_back(
        {{"id", t.id},
         {"name", t.name},
         {"created_ms", t.created_ms},
         {"last_used_ms", t.last_used_ms == 0 ? nlohmann::json() : nlohmann::json(t.last_used_ms)},
         {"scopes", auth::scope_names(auth::scopes_from_text(t.scopes))}});
  }
  return json_response(200, {{"tokens", list}});
}

Response handle_create_token(App& app, Request& req, const auth::Principal& p) {
  auto body = parse_json_object(req);
  if (!body) return error_response(body.error());
  auto name = string_field(*body, "name");
  if (!name) return error_response(name.error());
  // Without "scopes" the new token may do what its maker may: all for a session.
  auto scopes = p.scopes;
  if (auto it = body->find("scopes"); it != body->end()) {
    if (!it->is_array() || it->size() > 16) {
      return error_response(bad_request("scopes must be a list of names", "invalid_scope"));
    }
    std::vector<std::string> names;
    for (const auto& v : *it) {
      if (!v.is_string()) {
        return error_response(bad_request("scopes must be a list of names", "invalid_scope"));
      }
      names.push_back(v.get<std::string>());
    }
    auto parsed = auth::parse_scopes(names);
    if (!parsed) return error_response(parsed.error());
    scopes = *parsed;
  }
  auto created = app.auth.create_api_token(p.user.id, *name, scopes, p.scopes);
  if (!created) return error_response(created.error());
  return json_response(201, {{"id", created->id},
                             {"name", *name},
                             {"token", created->secret},
                             {"scopes", auth::scope_names(scopes)}});
}

Response handle_revoke_token(App& app, Request& req, const auth::Principal& p) {
  auto id = parse_positive_id(req.params["id"]);
  // Any token may revoke itself (an app signing out); others need the tokens scope.
  if (!p.scopes.has(Scope::kTokens) && (!id || *id != p.api_token_id)) {
    return error_response(Error{ErrorKind::kForbidden, "insufficient_scope",
                                "this API token lacks the \"tokens\" scope; it may revoke "
                                "only itself"});
  }
  if (!id || !app.auth.revoke_api_token(p.user.id, *id)) {
    return error_response(not_found("no such token"));
  }
  // An ingest socket opened with a ticket this token asked for ends with it.
  revoke(app, p.user.username, {Revocation::Kind::kApiToken, p.user.id, *id});
  return json_response(200, {{"ok", true}});
}

Response handle_rotate_stream_key(App& app, Request&, const auth::Principal& p) {
  std::string replaced;
  auto key = app.auth.rotate_stream_key(p.user.id, &replaced);
  revoke(app, p.user.username, {Revocation::Kind::kStreamKey, p.user.id, 0, replaced});
  return json_response(201, {{"stream_key", key}});
}

Response handle_delete(App& app, Request& req, const auth::Principal& p) {
  auto body = parse_json_object(req);
  if (!body) return error_response(body.error());
  auto password = string_field(*body, "password");
  if (!password) return error_response(password.error());
  // Once the password is checked, and before the name is freed: the stream ends and is billed,
  // and every socket of the account is closed, so a new owner of the name starts clean.
  auto ok = app.auth.delete_account(p.user.id, *password, [&] {
    revoke(app, p.user.username, {Revocation::Kind::kUser, p.user.id, 0});
  });
  if (!ok) return error_response(ok.error());
  // Its recordings go with it (its stream, ended above, recorded no more).
  if (app.recordings) app.recordings->remove_all(p.user.id);
  Response r = json_response(200, {{"ok", true}});
  r.set_header("Set-Cookie", clear_session_cookie(app));
  return r;
}

}  // namespace

void register_profile_routes(Router& router, App& app) {
  // Credentials are withdrawn where the request arrives; only "end these sockets" travels to
  // the stream's home (api/forward.hpp, revoke), never a password.
  router.add("PATCH", "/api/me", authed(app, handle_update, Scope::kAccount));
  router.add("DELETE", "/api/me", authed(app, handle_delete, Scope::kAccount));
  router.add("POST", "/api/me/password", authed(app, handle_password, Scope::kAccount));
  router.add("GET", "/api/me/sessions", authed(app, handle_sessions, Scope::kAccount));
  router.add("DELETE", "/api/me/sessions/:id", authed(app, handle_revoke_session, Scope::kAccount));
  router.add("GET", "/api/me/tokens", authed(app, handle_tokens, Scope::kTokens));
  router.add("POST", "/api/me/tokens", authed(app, handle_create_token, Scope::kTokens));
  router.add("DELETE", "/api/me/tokens/:id", authed(app, handle_revoke_token, Scope::kNone));
  router.add("POST", "/api/me/stream-key", authed(app, handle_rotate_stream_key, Scope::kKey));
}

}  // namespace ds::api
