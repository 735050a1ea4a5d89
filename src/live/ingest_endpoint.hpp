// /ws/ingest: a streamer's camera. Authenticates by stream key, ticket or session cookie, starts
// the stream for a key or ticket, attaches the connection to the hub and takes binary JPEG
// frames. The key, start and frame rules are live::IngestRules, shared with POST
// /api/ingest/frame.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "auth/auth_service.hpp"
#include "domain/jpeg.hpp"
#include "live/credential_watch.hpp"
#include "live/endpoint.hpp"
#include "live/hub.hpp"
#include "live/ingest_rules.hpp"
#include "live/peer.hpp"
#include "live/stream_service.hpp"
#include "live/style_service.hpp"

namespace ds::live {

struct IngestConfig {
  domain::JpegLimits frame_limits;
  int max_bad_in_a_row = 10;  // bad frames in a row before the socket is closed (1008)
  // Tests: runs after the credential is checked and before the socket is registered, the window
  // in which a revocation could pass it by.
  std::function<void()> after_authenticate;
};

// One streamer's connection.
struct IngestContext {
  std::string username;
  long long user_id = 0;
  int bad_messages = 0;  // in a row
  Bytes styles;          // the style queue when the connection was accepted
};

class IngestEndpoint {
 public:
  // styles may be null (no style requests).
  IngestEndpoint(Hub& hub, StreamService& streams, CredentialWatch& credentials,
                 auth::AuthService& auth, StyleService* styles, IngestConfig config);

  // Blocking (database). Authenticates, starts the stream when a stream key connects, and
  // makes peer the stream's ingest connection before the upgrade is answered, so of two
  // connections the one whose handshake completed last stays ("the newer one wins"). What
  // the hub sends it meanwhile waits in its queue. May throw when the database is away.
  Connected<IngestContext> connect(const ConnectRequest& req, const std::shared_ptr<Peer>& peer);

  // The cockpit starts from the current style queue, like a viewer's page.
  void on_open(IngestContext& ctx, const std::shared_ptr<Peer>& self);
  // Binary JPEG frames go to the hub; anything else is answered with bad_frame.
  void on_message(IngestContext& ctx, const std::shared_ptr<Peer>& self, bool binary,
                  std::string&& data);
  // peer_close_code: the code of the client's close frame (0: the line dropped, or the server
  // closed first). Returns the session to end when the client said goodbye (1000) on the
  // stream's current ingest, else 0; the caller then runs end_stream on the blocking pool (the
  // grace period is for a line that drops, not for a streamer who is done).
  long long on_closed(IngestContext& ctx, Peer& self, int peer_close_code);
  // Blocking (database): ends session_id completed, billed to now, if it is still open.
  void end_stream(const IngestContext& ctx, long long session_id);

 private:
  Hub& hub_;
  StreamService& streams_;
  CredentialWatch& credentials_;
  auth::AuthService& auth_;
  StyleService* styles_;
  IngestConfig config_;
  IngestRules rules_;
};

}  // namespace ds::live
