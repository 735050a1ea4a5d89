// Live chat: posting, listing and deleting comments on a streamer's channel, with the rules
// (enabled, stream live, clean text, per-user rate) and the live events to viewers and streamer.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "auth/rate_limiter.hpp"
#include "live/hub.hpp"
#include "store/comments.hpp"
#include "store/database.hpp"
#include "store/users.hpp"
#include "util/clock.hpp"
#include "util/expected.hpp"

namespace ds::live {

inline constexpr std::size_t kMaxCommentChars = 500;

struct ChatConfig {
  // Comments one user may post within window_ms (across all channels).
  int max_comments = 5;
  std::int64_t window_ms = 10'000;
};

class ChatService {
 public:
  ChatService(store::Database& db, Hub& hub, const Clock& clock, ChatConfig config = {});

  // Refused as forbidden comments_disabled, conflict stream_offline, invalid invalid_comment or
  // rate_limited. A stored comment goes out as {"type":"comment"} to the streamer's viewers
  // and the streamer.
  Expected<store::Comment> post(const store::User& streamer, const store::User& author,
                                std::string_view body);

  struct Page {
    std::vector<store::Comment> comments;  // newest first
    long long next_before = 0;             // 0: no older comments
  };
  // session_id > 0: only that stream session's comments (a recording's chat replay).
  Page list(long long streamer_id, long long before_id, int limit, long long session_id = 0);

  // Only the streamer and the author may delete (forbidden); not_found for an unknown or
  // deleted comment.
  // Sends {"type":"comment_deleted"}.
  Expected<Ok> remove(const store::User& streamer, long long actor_id, long long comment_id);

  // Counts comments in counters, across nodes.
  void share_limits(SharedCounters& counters);

 private:
  store::Database& db_;
  Hub& hub_;
  const Clock& clock_;
  auth::RateLimiter limiter_;
};

nlohmann::json comment_json(const store::Comment& c);

}  // namespace ds::live
