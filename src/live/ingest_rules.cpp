#include "live/ingest_rules.hpp"

#include "live/protocol.hpp"

namespace ds::live {

Expected<store::User> IngestRules::streamer_for_key(const std::string& key) const {
  if (auto user = auth_.from_stream_key(key)) return std::move(*user);
  return unauthorized("invalid stream key");
}

Expected<store::StreamSession> IngestRules::go_live(const store::User& user) const {
  return streams_.ensure_started(user);
}

Expected<domain::JpegInfo> IngestRules::check_frame(bool binary, std::string_view data) const {
  return wire::check_ingest_message(binary, data, frame_limits_);
}

Expected<FrameAccepted> IngestRules::push_frame(const std::string& username,
                                                std::string&& jpeg) const {
  if (auto accepted = hub_.push_frame(username, make_bytes(std::move(jpeg)))) return *accepted;
  return conflict("the stream is not active", "not_started");
}

}  // namespace ds::live
