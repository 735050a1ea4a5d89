// Transport-neutral HTTP request and response: what handlers see instead of Beast's types.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "util/expected.hpp"

namespace ds::api {

struct Request {
  std::string method;                                        // upper-case, e.g. "GET"
  std::string target;                                        // as received, with the query
  std::string path;                                          // percent-decoded, without the query
  std::string query;                                         // raw, without '?'
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string body;
  std::string remote_addr;
  // The client reached a trusted proxy over TLS (its X-Forwarded-Proto: https).
  bool https = false;
  std::unordered_map<std::string, std::string> params;  // filled by the router
  // Passed on by another node to this one, the stream's home (api/forward.hpp): not passed on.
  bool forwarded = false;
  // With forwarded: whom that node authenticated (no cookie or token travels with it).
  struct ForwardedUser {
    long long user_id = 0;
    std::string username;
    long long session_id = 0;
    long long api_token_id = 0;
    bool via_cookie = false;
    unsigned scopes = 0;  // auth::ScopeSet's bits: what the token may do (a session: all)
  };
  std::optional<ForwardedUser> forwarded_user;

  std::optional<std::string> header(std::string_view lower_name) const;
  std::optional<std::string> query_param(std::string_view name) const;
  std::optional<std::string> cookie(std::string_view name) const;
  // The credential of "Authorization: Bearer <token>", when the request has one.
  std::optional<std::string> bearer_token() const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  void set_header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
  }
  bool has_header(std::string_view name) const { return header(name).has_value(); }
  // The first header of that name, in any case.
  std::optional<std::string_view> header(std::string_view name) const;

  // An answer that is not ready when the handler returns (a blocking HLS playlist reload).
  // When set, the transport ignores the rest of this response and calls `deferred` once with
  // the function that sends the real one, then goes on: no thread waits meanwhile. Whoever
  // holds that function calls it exactly once, on any thread (it only queues the write).
  // `gone` turns true when the client closes or resets its connection meanwhile: the holder
  // may then drop the reply (which lets the connection go) instead of answering.
  using Reply = std::function<void(Response&&)>;
  using Gone = std::shared_ptr<const std::atomic<bool>>;
  std::function<void(Reply, Gone)> deferred;

  // When set, the body is these bytes of a file, which the transport reads from disk as it
  // writes them (api/file_reply.hpp); `body` is ignored. A file it cannot open is answered 404.
  struct FileSpan {
    std::filesystem::path path;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
  };
  std::optional<FileSpan> file;
};

// The one place an error kind becomes an HTTP status.
int http_status(ErrorKind kind);

Response json_response(int status, const nlohmann::json& body);
Response error_response(int status, std::string_view code, std::string_view message);
Response error_response(const Error& e);
Response no_content();

// True for "application/json" (any case, with or without parameters such as a charset).
bool is_json_content_type(std::string_view value);

// Parses the body as a JSON object: 415 unsupported_media_type unless the request says
// Content-Type: application/json, a clear 400 when the body is not a JSON object.
Expected<nlohmann::json> parse_json_object(const Request& req);

// Typed field access with SPEC-shaped errors: missing or wrong-typed fields are 400.
Expected<std::string> string_field(const nlohmann::json& body, const char* name);
Expected<long long> integer_field(const nlohmann::json& body, const char* name);
Expected<bool> bool_field(const nlohmann::json& body, const char* name);

// One page of a listing, newest first: ?before=<id> (exclusive; absent or 0 means from the
// newest) and ?limit=1..max_limit (default_limit when absent).
struct PageQuery {
  long long before = 0;
  int limit = 0;
};
// 400 invalid_query unless before is an id (up to 18 digits) and limit is 1 to max_limit.
Expected<PageQuery> parse_page(const Request& req, int default_limit, int max_limit);

std::string url_decode(std::string_view s, bool plus_is_space);

}  // namespace ds::api
