// Method + path-pattern routing ("/api/streams/:username/comments") to handlers.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "api/http.hpp"

namespace ds::api {

using Handler = std::function<Response(Request&)>;

class Router {
 public:
  void add(std::string method, std::string pattern, Handler handler);

  enum class Outcome { kFound, kNotFound, kMethodNotAllowed };
  struct Match {
    Outcome outcome = Outcome::kNotFound;
    const Handler* handler = nullptr;
    std::string allowed;  // for 405: the methods the path accepts
  };
  // Fills req.params from the pattern on success.
  Match match(Request& req) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;  // ":name" segments capture
    Handler handler;
  };
  std::vector<Route> routes_;
};

// Splits "/a/b/c" into {"a","b","c"}; an empty path gives {}.
std::vector<std::string> split_path(std::string_view path);

// Matches split path parts against split pattern segments, capturing ":name" segments.
bool match_segments(const std::vector<std::string>& pattern, const std::vector<std::string>& parts,
                    std::unordered_map<std::string, std::string>& params);

}  // namespace ds::api
