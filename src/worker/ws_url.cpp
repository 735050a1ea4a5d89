#include "worker/ws_url.hpp"

#include <algorithm>
#include <cctype>

namespace ds::worker {
namespace {

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::string WsUrl::host_header() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != (tls ? "443" : "80")) h += ":" + port;
  return h;
}

std::string WsUrl::display() const {
  std::string path = target.substr(0, target.find('?'));
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return std::string(tls ? "wss://" : "ws://") + h + ":" + port + path;
}

std::optional<WsUrl> parse_ws_url(std::string_view url, std::string_view default_path) {
  WsUrl out;
  if (starts_with_nocase(url, "wss://")) {
    out.tls = true;
    url.remove_prefix(6);
  } else if (starts_with_nocase(url, "ws://")) {
    url.remove_prefix(5);
  } else if (starts_with_nocase(url, "https://")) {
    out.tls = true;
    url.remove_prefix(8);
  } else if (starts_with_nocase(url, "http://")) {
    url.remove_prefix(7);
  } else if (url.find("://") != std::string_view::npos) {
    return std::nullopt;
  }
  std::size_t path_at = url.find_first_of("/?");
  std::string_view authority = url.substr(0, path_at);
  std::string_view rest = path_at == std::string_view::npos ? "" : url.substr(path_at);
  if (authority.find('@') != std::string_view::npos) return std::nullopt;  // no userinfo

  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port = after.substr(1);
      if (port.empty()) return std::nullopt;
    }
  } else {
    std::size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      authority = authority.substr(0, colon);
      if (port.empty()) return std::nullopt;
    }
    out.host = std::string(authority);
  }
  if (out.host.empty()) return std::nullopt;
  if (!port.empty()) {
    if (!all_digits(port) || port.size() > 5 || std::stoi(std::string(port)) > 65535 ||
        std::stoi(std::string(port)) == 0) {
      return std::nullopt;
    }
    out.port = std::string(port);
  } else {
    out.port = out.tls ? "443" : "80";
  }
  if (rest.empty() || rest == "/") {
    out.target = std::string(default_path);
  } else if (rest.front() == '?') {
    out.target = std::string(default_path) + std::string(rest);
  } else if (rest.substr(0, 2) == "/?") {
    out.target = std::string(default_path) + std::string(rest.substr(1));
  } else {
    out.target = std::string(rest);
  }
  return out;
}

}  // namespace ds::worker
