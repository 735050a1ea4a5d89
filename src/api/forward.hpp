// Many nodes: a request about a live stream's in-memory state (its style queue, its settings
// taking effect, stopping it, its newest frame) runs on the stream's home node. Any other node
// authenticates it, passes it there over the cluster (sealed: cluster/seal) without the
// credential it came with, and hands back the home's answer, so a load balancer needs no sticky
// sessions. Only the routes of kForwardable travel; a credential withdrawn on any node is
// withdrawn where it arrives, and only "end these sockets" travels to the home.
#pragma once

#include <optional>
#include <string>

#include "api/app.hpp"
#include "api/router.hpp"
#include "live/cluster.hpp"

namespace ds::api {

// The routes a node may pass to another: the allow-list both sides check.
bool forwardable(const std::string& method, const std::string& path);

// The home's answer when username's stream is homed on another node; nullopt to run it here
// (one node, the stream is here or nowhere, or req came from another node already). A home
// that does not answer within the deadline is a 503 home_unavailable, and never runs it later.
// who: the caller's principal when already authenticated (else it is looked up here).
std::optional<Response> forward_to_home(App& app, const std::string& username, const Request& req,
                                        const std::optional<auth::Principal>& who = std::nullopt);

// Route wrappers: the stream is the path's :username, or the logged-in user's own.
Handler at_home_of_path(App& app, Handler inner);
Handler authed_at_home(App& app, AuthedHandler fn, Scope scope);

// A credential withdrawn (a new stream key, a logout, a revoked session or API token, a password
// change, a deleted account): the sockets it let in end here, and on the home of the user's
// live stream, where the user's ingest sockets are. Only the ids cross between nodes, never a
// password, key or cookie. A home that does not answer (dead, its sockets gone with it) does not
// hold it up.
struct Revocation {
  enum class Kind { kStreamKey, kSession, kSessionsExcept, kApiToken, kUser };
  Kind kind = Kind::kUser;
  long long user_id = 0;
  long long id = 0;  // the session (kept one for kSessionsExcept) or API token
  // kStreamKey: the replaced key's hash; its sockets end. The replaced key, not "all but the
  // new one": two rotations heard in either order then end the two old keys' sockets and
  // never the newest's.
  std::string revoked_key_hash;
};
void revoke(App& app, const std::string& username, const Revocation& r);
// The call that carries a revocation to the other nodes (serve_revocation reads it).
live::Call encode_revocation(const Revocation& r);

live::Call encode_request(const Request& req, const std::optional<auth::Principal>& who);
std::optional<Request> decode_request(const live::Call& call);
live::Call encode_response(const Response& r);
std::optional<Response> decode_response(const live::Call& call);

// The home's side: runs a forwarded request through this node's routes (if forwardable) and
// answers through respond, at once or, for an answer the route defers (a blocking HLS reload),
// when it comes; and a revocation announced by another node.
void serve_forwarded(const Router& router, App& app, const live::Call& call,
                     live::Cluster::Respond respond);
live::Call serve_revocation(App& app, const live::Call& call);

}  // namespace ds::api
