#include "api/router.hpp"

namespace ds::api {

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    auto slash = path.find('/');
    out.emplace_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return out;
}

bool match_segments(const std::vector<std::string>& pattern, const std::vector<std::string>& parts,
                    std::unordered_map<std::string, std::string>& params) {
  if (pattern.size() != parts.size()) return false;
  std::unordered_map<std::string, std::string> found;
  for (std::size_t i = 0; i != parts.size(); ++i) {
    const auto& seg = pattern[i];
    if (!seg.empty() && seg.front() == ':') {
      found[seg.substr(1)] = parts[i];
    } else if (seg != parts[i]) {
      return false;
    }
  }
  params = std::move(found);
  return true;
}

void Router::add(std::string method, std::string pattern, Handler handler, CallerProof proof) {
  routes_.push_back({std::move(method), split_path(pattern), std::move(handler), proof});
}

Router::Match Router::match(Request& req) const {
  auto parts = split_path(req.path);
  Match result;
  for (const auto& route : routes_) {
    std::unordered_map<std::string, std::string> params;
    if (!match_segments(route.segments, parts, params)) continue;
    if (route.method != req.method && !(req.method == "HEAD" && route.method == "GET")) {
      result.outcome = Outcome::kMethodNotAllowed;
      if (!result.allowed.empty()) result.allowed += ", ";
      result.allowed += route.method;
      continue;
    }
    req.params = std::move(params);
    return {Outcome::kFound, &route.handler, {}, route.proof};
  }
  return result;
}

}  // namespace ds::api
