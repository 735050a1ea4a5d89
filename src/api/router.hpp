// Method + path-pattern routing ("/api/streams/:username/comments") to handlers.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "api/http.hpp"

namespace ds::api {

using Handler = std::function<Response(Request&)>;

// How a state-changing route's caller without a Bearer token shows it is not a page riding a
// browser's cookie. kOrigin (the default): a request that carries the session cookie needs an
// allowed Origin (or Referer); one with no credential at all has nothing to ride and goes on
// (to a 401 where the route needs a user). kOriginAlways: the Origin is needed even without a
// cookie, for routes that set one (login, registration: login CSRF). kOwnSecret: the request
// carries its own proof (Stripe's signature, a stream key) and no cookie is read.
enum class CallerProof { kOrigin, kOriginAlways, kOwnSecret };

class Router {
 public:
  void add(std::string method, std::string pattern, Handler handler,
           CallerProof proof = CallerProof::kOrigin);

  enum class Outcome { kFound, kNotFound, kMethodNotAllowed };
  struct Match {
    Outcome outcome = Outcome::kNotFound;
    const Handler* handler = nullptr;
    std::string allowed;  // for 405: the methods the path accepts
    CallerProof proof = CallerProof::kOrigin;
  };
  // Fills req.params from the pattern on success.
  Match match(Request& req) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;  // ":name" segments capture
    Handler handler;
    CallerProof proof;
  };
  std::vector<Route> routes_;
};

// Splits "/a/b/c" into {"a","b","c"}; an empty path gives {}.
std::vector<std::string> split_path(std::string_view path);

// Matches split path parts against split pattern segments, capturing ":name" segments.
bool match_segments(const std::vector<std::string>& pattern, const std::vector<std::string>& parts,
                    std::unordered_map<std::string, std::string>& params);

}  // namespace ds::api
