// POST /api/auth/register, /api/auth/login, /api/auth/logout; GET /api/me.
#include "api/app.hpp"
#include "api/forward.hpp"

namespace ds::api {

namespace {

constexpr std::size_t kMaxLoginField = 300;

Response logged_in(App& app, int status, const auth::LoginResult& result) {
  Response r = json_response(status, {{"user", user_json(app, result.user)}});
  r.set_header("Set-Cookie", session_cookie(app, result.session_token));
  return r;
}

Response handle_register(App& app, Request& req) {
  auto body = parse_json_object(req);
  if (!body) return error_response(body.error());
  auto username = string_field(*body, "username");
  if (!username) return error_response(username.error());
  auto email = string_field(*body, "email");
  if (!email) return error_response(email.error());
  auto password = string_field(*body, "password");
  if (!password) return error_response(password.error());
  std::string display_name;
  if (body->contains("display_name") && !(*body)["display_name"].is_null()) {
    auto d = string_field(*body, "display_name");
    if (!d) return error_response(d.error());
    display_name = *d;
  }
  if (username->size() > kMaxLoginField || email->size() > kMaxLoginField ||
      password->size() > kMaxLoginField || display_name.size() > kMaxLoginField) {
    return error_response(bad_request("a field is too long", "too_long"));
  }
  auto user = app.auth.register_user(*username, *email, *password, display_name, req.remote_addr);
  if (!user) return error_response(user.error());
  auto session =
      app.auth.create_session(*user, req.remote_addr, req.header("user-agent").value_or(""));
  if (!session) return error_response(session.error());
  return logged_in(app, 201, *session);
}

Response handle_login(App& app, Request& req) {
  auto body = parse_json_object(req);
  if (!body) return error_response(body.error());
  // "login" is the documented field; "username" and "email" are accepted as aliases.
  std::string field = body->contains("login")   ? "login"
                      : body->contains("email") ? "email"
                                                : "username";
  auto login = string_field(*body, field.c_str());
  if (!login) return error_response(login.error());
  auto password = string_field(*body, "password");
  if (!password) return error_response(password.error());
  if (login->size() > kMaxLoginField || password->size() > kMaxLoginField) {
    return error_response(bad_request("a field is too long", "too_long"));
  }
  auto result =
      app.auth.login(*login, *password, req.remote_addr, req.header("user-agent").value_or(""));
  if (!result) return error_response(result.error());
  return logged_in(app, 200, *result);
}

Response handle_logout(App& app, Request& req) {
  if (auto c = req.cookie(kSessionCookie)) {
    if (!origin_allowed(app, req, true)) {
      return error_response(cross_origin_refused(app, req));
    }
    auto session = app.auth.from_session_token(*c);
    app.auth.logout(*c);
    if (session) {
      revoke(app, session->user.username,
             {Revocation::Kind::kSession, session->user.id, session->session_id});
    }
  }
  Response r = json_response(200, {{"ok", true}});
  r.set_header("Set-Cookie", clear_session_cookie(app));
  return r;
}

Response handle_me(App& app, Request&, const auth::Principal& p) {
  return json_response(200, {{"user", user_json(app, p.user)}});
}

}  // namespace

void register_auth_routes(Router& router, App& app) {
  // Both set a session cookie: a cross-site page must not log a browser into an account.
  router.add("POST", "/api/auth/register", handler(app, handle_register),
             CallerProof::kOriginAlways);
  router.add("POST", "/api/auth/login", handler(app, handle_login), CallerProof::kOriginAlways);
  router.add("POST", "/api/auth/logout", handler(app, handle_logout));
  router.add("GET", "/api/me", authed(app, handle_me, Scope::kRead));
}

}  // namespace ds::api
