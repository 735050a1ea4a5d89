// What the live endpoints (ingest, watch, worker) share: the connect step's inputs as plain
// data built by the socket layer, and the refusal an endpoint answers with. The socket layer
// (net/live_endpoints.cpp) owns the sockets; the endpoints own the rules.
#pragma once

#include <optional>
#include <string>
#include <variant>

#include "live/protocol.hpp"

namespace ds::live {

// One WebSocket upgrade request, as much of it as the connect step needs.
struct ConnectRequest {
  std::optional<std::string> bearer;          // Authorization: Bearer …
  std::optional<std::string> query_key;       // ?key= (a stream key, ingest)
  std::optional<std::string> query_ticket;    // ?ticket= (an ingest ticket)
  std::optional<std::string> query_token;     // ?token= (a worker token)
  std::optional<std::string> query_video;     // ?video= (a viewer's video codec: h264)
  std::optional<std::string> session_cookie;  // ds_session
  // The Origin (or Referer) is present and is this site or an allowed origin; a cookie
  // connection needs it.
  bool origin_allowed = false;
  std::string remote_addr;
  std::string username;  // the :username path parameter, as given
};

// Why a connection cannot go on. The socket layer completes the upgrade only to send
// {"type":"error","code":error,"message":message} and close with code: browsers cannot read
// an HTTP error on a failed upgrade, but they do see a close code and reason.
struct Rejection {
  wire::CloseCode code = wire::CloseCode::kInternal;
  std::string error;
  std::string message;
};

// A connect step's answer: a refusal, or the accepted connection's per-role context.
template <class Context>
using Connected = std::variant<Rejection, Context>;

}  // namespace ds::live
