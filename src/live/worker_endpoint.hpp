// /ws/worker: a model worker (docs/protocol.md). Checks the worker token, then speaks the
// worker protocol: hello → welcome, jobs from the hub, result header + JPEG or error back.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/auth_service.hpp"
#include "domain/jpeg.hpp"
#include "live/endpoint.hpp"
#include "live/hub.hpp"
#include "live/peer.hpp"
#include "live/worker_token_watch.hpp"

namespace ds::live {

struct WorkerConfig {
  domain::JpegLimits frame_limits;  // for result JPEGs
  std::vector<std::string> tokens;  // accepted besides those in the database
  int max_bad_in_a_row = 10;        // bad messages in a row before closing (1008)
  // Sockets let in by a database token are registered here, so a revocation ends them.
  WorkerTokenWatch* token_watch = nullptr;
};

// One worker's connection.
struct WorkerContext {
  std::string remote_addr;
  long long token_id = 0;                     // the database worker token; 0: a --worker-token
  std::int64_t worker_id = 0;                 // the hub's id; 0 until hello
  std::optional<wire::ResultHeader> pending;  // a result header awaiting its JPEG
  int bad_messages = 0;                       // in a row
};

class WorkerEndpoint {
 public:
  WorkerEndpoint(Hub& hub, auth::AuthService& auth, WorkerConfig config);

  // Blocking (database): 4401 without a valid worker token. May throw when the database is
  // away.
  Connected<WorkerContext> connect(const ConnectRequest& req);

  // The worker speaks first; a database token's socket is watched for its revocation.
  void on_open(WorkerContext& ctx, const std::shared_ptr<Peer>& self);
  void on_message(WorkerContext& ctx, const std::shared_ptr<Peer>& self, bool binary,
                  std::string&& data);
  // The worker's job, if any, is lost; its stream goes on with the next frame.
  void on_closed(WorkerContext& ctx, Peer& self);

 private:
  void on_text(WorkerContext& ctx, const std::shared_ptr<Peer>& self, std::string_view text);
  void on_jpeg(WorkerContext& ctx, Peer& self, std::string&& jpeg);

  Hub& hub_;
  auth::AuthService& auth_;
  WorkerConfig config_;
};

}  // namespace ds::live
