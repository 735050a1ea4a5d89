// The rules a streamer's frames pass at either door: the /ws/ingest socket (IngestEndpoint) and
// POST /api/ingest/frame (api/streams_api.cpp). Both call these, so the doors cannot drift
// apart: who a stream key lets in, when a stream opens, what a frame must be, and what a frame
// for a stream that is not active gets. Each door keeps only what is its own: the socket's
// cookie and ticket logins, its revocation recheck and its count of bad frames in a row; the
// request's Content-Type and its forwarding to the stream's home (many nodes).
#pragma once

#include <string>
#include <string_view>

#include "auth/auth_service.hpp"
#include "domain/jpeg.hpp"
#include "live/hub.hpp"
#include "live/stream_service.hpp"
#include "util/expected.hpp"

namespace ds::live {

class IngestRules {
 public:
  IngestRules(auth::AuthService& auth, StreamService& streams, Hub& hub,
              domain::JpegLimits frame_limits)
      : auth_(auth), streams_(streams), hub_(hub), frame_limits_(frame_limits) {}

  // Blocking (database). The streamer a stream key lets in. Error: unauthorized (a rotated,
  // revoked or mistyped key).
  Expected<store::User> streamer_for_key(const std::string& key) const;
  // Blocking (database). A stream key (or ticket) goes live: the streamer's stream is opened
  // when none is active here (StreamService::ensure_started: insufficient_credits, ...).
  Expected<store::StreamSession> go_live(const store::User& user) const;
  // One frame: a binary message (the door says whether it came as one) holding a JPEG within
  // the frame limits. Errors: bad_frame (invalid), too_large.
  Expected<domain::JpegInfo> check_frame(bool binary, std::string_view data) const;
  // A checked frame into the stream's mailbox. Error: not_started (conflict) when the stream
  // is not active on this node.
  Expected<FrameAccepted> push_frame(const std::string& username, std::string&& jpeg) const;

 private:
  auth::AuthService& auth_;
  StreamService& streams_;
  Hub& hub_;
  domain::JpegLimits frame_limits_;
};

}  // namespace ds::live
