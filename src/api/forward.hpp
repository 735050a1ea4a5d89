// Many nodes: a request about a live stream's in-memory state (its style queue, its settings
// taking effect, stopping it, its newest frame) runs on the stream's home node. Any other node
// passes it there over the cluster and hands back the home's answer, so a load balancer needs
// no sticky sessions.
#pragma once

#include <optional>
#include <string>

#include "api/app.hpp"
#include "api/router.hpp"
#include "live/cluster.hpp"

namespace ds::api {

// The home's answer when username's stream is homed on another node; nullopt to run it here
// (one node, the stream is here or nowhere, or req came from another node already). A home
// that does not answer is a 503 home_unavailable.
std::optional<Response> forward_to_home(App& app, const std::string& username, const Request& req);

// Route wrappers: the stream is the path's :username, or the logged-in user's own.
Handler at_home_of_path(App& app, Handler inner);
Handler authed_at_home(App& app, AuthedHandler fn, Scope scope);

// For requests that withdraw a credential (a new stream key, a revoked session or API token, a
// password change, a deleted account, a logout): they run on the home of the user's live
// stream, where every ingest socket of the user is, so the sockets the credential let in end
// with it. A home that does not answer (dead, its sockets gone with it) does not block them:
// they run here, since a leaked key must be replaceable at once.
std::optional<Response> forward_revocation(App& app, const std::string& username,
                                           const Request& req);
Handler authed_revoking(App& app, AuthedHandler fn, Scope scope);

live::Call encode_request(const Request& req);
std::optional<Request> decode_request(const live::Call& call);
live::Call encode_response(const Response& r);
std::optional<Response> decode_response(const live::Call& call);

// The home's side: runs a forwarded request through this node's routes.
live::Call serve_forwarded(const Router& router, App& app, const live::Call& call);

}  // namespace ds::api
