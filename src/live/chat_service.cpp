#include "live/chat_service.hpp"

#include <spdlog/spdlog.h>

#include <string>

#include "domain/text.hpp"
#include "live/protocol.hpp"
#include "store/stream_settings.hpp"

namespace ds::live {

ChatService::ChatService(store::Database& db, Hub& hub, const Clock& clock, ChatConfig config)
    : db_(db), hub_(hub), clock_(clock), limiter_(clock, config.max_comments, config.window_ms) {}

nlohmann::json comment_json(const store::Comment& c) {
  return {{"id", c.id},
          {"session_id", c.session_id},
          {"author", {{"username", c.author_username}, {"display_name", c.author_display_name}}},
          {"body", c.body},
          {"created_ms", c.created_ms}};
}

Expected<store::Comment> ChatService::post(const store::User& streamer, const store::User& author,
                                           std::string_view body) {
  auto settings =
      db_.with([&](soci::session& sql) { return store::load_stream_settings(sql, streamer.id); });
  if (!settings.comments_enabled) {
    return Error{ErrorKind::kForbidden, "comments_disabled", "the streamer turned comments off"};
  }
  auto snap = hub_.find(streamer.username);
  if (!snap) return conflict("the stream is offline", "stream_offline");
  auto clean = domain::clean_text(body, 1, kMaxCommentChars);
  if (!clean) {
    return bad_request("a comment is 1–500 characters of text without control characters",
                       "invalid_comment");
  }
  // Checked last, so a refused comment does not use up the author's allowance.
  if (!limiter_.allow(std::to_string(author.id))) {
    return rate_limited("too many comments: wait a few seconds");
  }
  auto now = clock_.now_ms();
  auto comment = db_.write([&](soci::session& sql) {
    return store::insert_comment(sql, streamer.id, snap->session_id, author.id, *clean, now);
  });
  hub_.broadcast_text(streamer.username, wire::encode_comment(comment_json(comment)));
  spdlog::info("event=comment_posted stream={} comment_id={} user_id={}", streamer.username,
               comment.id, author.id);
  return comment;
}

ChatService::Page ChatService::list(long long streamer_id, long long before_id, int limit,
                                    long long session_id) {
  Page page;
  page.comments = db_.with([&](soci::session& sql) {
    return store::list_comments(sql, streamer_id, before_id, limit + 1, session_id);
  });
  if (static_cast<int>(page.comments.size()) > limit) {
    page.comments.pop_back();
    page.next_before = page.comments.back().id;
  }
  return page;
}

Expected<Ok> ChatService::remove(const store::User& streamer, long long actor_id,
                                 long long comment_id) {
  auto c = db_.with(
      [&](soci::session& sql) { return store::find_comment(sql, streamer.id, comment_id); });
  if (!c || c->deleted_ms > 0) return not_found("no such comment");
  if (actor_id != streamer.id && actor_id != c->user_id) {
    return forbidden("only the streamer and the author may delete a comment");
  }
  bool deleted = db_.write(
      [&](soci::session& sql) { return store::delete_comment(sql, comment_id, clock_.now_ms()); });
  if (!deleted) return not_found("no such comment");
  hub_.broadcast_text(streamer.username, wire::encode_comment_deleted(comment_id));
  spdlog::info("event=comment_deleted stream={} comment_id={} by_user_id={}", streamer.username,
               comment_id, actor_id);
  return Ok{};
}

void ChatService::share_limits(SharedCounters& counters) { limiter_.share(&counters, "chat"); }

}  // namespace ds::live
