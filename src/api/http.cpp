#include "api/http.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <limits>

#include "live/protocol.hpp"

namespace ds::api {

namespace {

constexpr int kMaxBodyDepth = 16;

}  // namespace

std::optional<std::string> Request::header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lower_name) return v;
  }
  return std::nullopt;
}

std::optional<std::string> Request::query_param(std::string_view name) const {
  std::string_view q = query;
  while (!q.empty()) {
    auto amp = q.find('&');
    auto part = q.substr(0, amp);
    auto eq = part.find('=');
    auto key = url_decode(part.substr(0, eq), true);
    if (key == name) {
      return eq == std::string_view::npos ? std::string() : url_decode(part.substr(eq + 1), true);
    }
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::optional<std::string> Request::cookie(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k != "cookie") continue;
    std::string_view c = v;
    while (!c.empty()) {
      auto semi = c.find(';');
      auto part = c.substr(0, semi);
      while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
      auto eq = part.find('=');
      if (eq != std::string_view::npos && part.substr(0, eq) == name) {
        return std::string(part.substr(eq + 1));
      }
      if (semi == std::string_view::npos) break;
      c.remove_prefix(semi + 1);
    }
  }
  return std::nullopt;
}

std::optional<std::string> Request::bearer_token() const {
  auto h = header("authorization");
  if (!h || !h->starts_with("Bearer ")) return std::nullopt;
  return h->substr(7);
}

std::optional<std::string_view> Response::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return std::string_view(v);
    }
  }
  return std::nullopt;
}

int http_status(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalid:
      return 400;
    case ErrorKind::kUnauthorized:
      return 401;
    case ErrorKind::kPaymentRequired:
      return 402;
    case ErrorKind::kForbidden:
      return 403;
    case ErrorKind::kNotFound:
      return 404;
    case ErrorKind::kConflict:
      return 409;
    case ErrorKind::kTooLarge:
      return 413;
    case ErrorKind::kWrongMediaType:
      return 415;
    case ErrorKind::kRateLimited:
      return 429;
    case ErrorKind::kInternal:
      return 500;
    case ErrorKind::kUpstreamFailed:
      return 502;
    case ErrorKind::kUnavailable:
      return 503;
  }
  return 500;
}

Response json_response(int status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

Response error_response(int status, std::string_view code, std::string_view message) {
  return json_response(status, {{"error", {{"code", code}, {"message", message}}}});
}

Response error_response(const Error& e) {
  return error_response(http_status(e.kind), e.code, e.message);
}

Response no_content() {
  Response r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

bool is_json_content_type(std::string_view value) {
  // "application/json", any case, optionally followed by parameters ("; charset=utf-8").
  auto type = value.substr(0, value.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  constexpr std::string_view kJson = "application/json";
  if (type.size() != kJson.size()) return false;
  for (std::size_t i = 0; i != type.size(); ++i) {
    char c = type[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kJson[i]) return false;
  }
  return true;
}

Expected<nlohmann::json> parse_json_object(const Request& req) {
  // A form or text/plain body is what a cross-site page can send without a preflight; a JSON
  // endpoint takes only what a script has to declare.
  if (!is_json_content_type(req.header("content-type").value_or(""))) {
    return Error{ErrorKind::kWrongMediaType, "unsupported_media_type",
                 "send the body as JSON with Content-Type: application/json"};
  }
  // Depth-limited: no route takes more than a few levels, and deep nesting costs stack.
  auto parsed = live::wire::parse_json_limited(req.body, kMaxBodyDepth);
  if (!parsed) return bad_request("the request body is not valid JSON", "invalid_json");
  auto& body = *parsed;
  if (!body.is_object())
    return bad_request("the request body must be a JSON object", "invalid_json");
  return body;
}

Expected<std::string> string_field(const nlohmann::json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) {
    return bad_request(std::string("missing field: ") + name, "missing_field");
  }
  if (!it->is_string()) return bad_request(std::string(name) + " must be a string", "invalid_type");
  return it->get<std::string>();
}

Expected<long long> integer_field(const nlohmann::json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) {
    return bad_request(std::string("missing field: ") + name, "missing_field");
  }
  // Unsigned JSON numbers past INT64_MAX would wrap to negative values in get<long long>().
  if (it->is_number_unsigned()) {
    auto u = it->get<std::uint64_t>();
    if (u <= static_cast<std::uint64_t>(std::numeric_limits<long long>::max())) {
      return static_cast<long long>(u);
    }
  } else if (it->is_number_integer()) {
    return it->get<long long>();
  }
  if (it->is_number_float()) {
    double d = it->get<double>();
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9e15) {
      return static_cast<long long>(d);
    }
  }
  return bad_request(std::string(name) + " must be a whole number", "invalid_type");
}

Expected<bool> bool_field(const nlohmann::json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) {
    return bad_request(std::string("missing field: ") + name, "missing_field");
  }
  if (!it->is_boolean())
    return bad_request(std::string(name) + " must be true or false", "invalid_type");
  return it->get<bool>();
}

Expected<PageQuery> parse_page(const Request& req, int default_limit, int max_limit) {
  // Digits only: "12abc" or "-1" is a mistake to report, not a page to guess.
  auto number = [](const std::string& s) -> std::optional<long long> {
    if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos) {
      return std::nullopt;
    }
    return std::stoll(s);
  };
  PageQuery page{0, default_limit};
  if (auto b = req.query_param("before")) {
    auto v = number(*b);
    if (!v) return bad_request("before must be an id from next_before", "invalid_query");
    page.before = *v;
  }
  if (auto l = req.query_param("limit")) {
    auto v = number(*l);
    if (!v || *v < 1 || *v > max_limit) {
      return bad_request("limit must be 1–" + std::to_string(max_limit), "invalid_query");
    }
    page.limit = static_cast<int>(*v);
  }
  return page;
}

std::string url_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

}  // namespace ds::api
