// The sockets of the live endpoints: /ws/ingest, /ws/watch/<name>, /ws/worker and
// /u/<name>/stream.mjpeg. Only socket code: each connect step runs on the blocking pool and the
// role logic is in live/{ingest,watch,worker}_endpoint.
#pragma once

#include <string>
#include <vector>

#include "domain/jpeg.hpp"
#include "live/credential_watch.hpp"
#include "live/hub.hpp"
#include "live/stream_service.hpp"
#include "live/video_hub.hpp"
#include "live/worker_token_watch.hpp"
#include "net/server.hpp"

namespace ds::net {

struct LiveEndpointsConfig {
  domain::JpegLimits frame_limits;
  std::vector<std::string> worker_tokens;  // accepted besides those in the database
  int max_bad_frames_in_a_row = 10;
  // Where worker sockets let in by a database token are watched for revocation (may be null).
  live::WorkerTokenWatch* worker_token_watch = nullptr;
  // H.264 for viewers who ask (`?video=h264`); null: `serve --video off`, they get JPEG frames.
  live::VideoHub* video = nullptr;
};

void register_live_endpoints(Server& server, api::App& app, live::Hub& hub,
                             live::StreamService& streams, live::CredentialWatch& credentials,
                             LiveEndpointsConfig config);

}  // namespace ds::net
