// Parses the --server address of the worker and push clients into what a WebSocket client needs.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ds::worker {

struct WsUrl {
  bool tls = false;
  std::string host;    // without brackets for IPv6
  std::string port;    // "80" / "443" by default
  std::string target;  // path and query, e.g. "/ws/worker"

  // The Host header: host, plus ":port" when not the scheme's default.
  std::string host_header() const;
  // For logs: scheme, host, port and path; never the query (it may hold a token or key).
  std::string display() const;
};

// Accepts ws://, wss://, http:// (as ws), https:// (as wss) or a bare HOST[:PORT]. When the URL
// has no path (or just "/"), `default_path` is used, so "ws://host:8080" reaches
// "ws://host:8080/ws/worker".
std::optional<WsUrl> parse_ws_url(std::string_view url, std::string_view default_path);

}  // namespace ds::worker
