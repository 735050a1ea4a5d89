// The style-request queue of one live stream: which prompt plays now, what waits its turn and
// what awaits the streamer's approval. Pure: time is passed in, and every operation returns the
// requests whose status changed so the caller can store and announce them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ds::domain {

enum class StylePolicy { kAuto, kApprove };
std::string_view to_string(StylePolicy p);
std::optional<StylePolicy> parse_style_policy(std::string_view s);

enum class StyleStatus { kPending, kQueued, kActive, kDone, kRejected, kSkipped, kCleared };
std::string_view to_string(StyleStatus s);
std::optional<StyleStatus> parse_style_status(std::string_view s);

struct StyleAuthor {
  long long user_id = 0;
  std::string username;
  std::string display_name;
};

struct StyleRequest {
  long long id = 0;
  long long session_id = 0;
  StyleAuthor author;
  std::string prompt;
  StyleStatus status = StyleStatus::kPending;
  std::int64_t created_ms = 0;
  std::int64_t started_ms = 0;  // 0 until it plays
  std::int64_t ended_ms = 0;    // 0 while pending, queued or active
  // Its place in the play order: numbers rise as requests join the queue (approval order under
  // the approve policy), so a queue rebuilt from storage plays in the same order. 0 until queued.
  std::int64_t queue_order = 0;
};

struct StyleQueueConfig {
  StylePolicy policy = StylePolicy::kAuto;
  std::int64_t slot_ms = 30'000;
  std::string base_style;
  // Pending plus queued requests at most; a crowd cannot grow the queue without bound.
  std::size_t max_waiting = 100;
};

// What plays now: the active request, or the base style when there is none.
struct CurrentStyle {
  std::string prompt;
  std::optional<StyleRequest> request;  // empty: the base style
  std::int64_t started_ms = 0;          // 0 for the base style
  std::int64_t ends_ms = 0;             // 0 for the base style
};

enum class StyleQueueError { kNotFound, kNotPending, kNotRejectable, kQueueFull };

struct StyleUpdate {
  std::optional<StyleQueueError> error;
  std::vector<StyleRequest> changed;  // requests whose status changed, as they are now

  bool ok() const { return !error.has_value(); }
};

class StyleQueue {
 public:
  explicit StyleQueue(StyleQueueConfig config = {});

  // A new request (id, author, prompt, created_ms set by the caller): queued under the auto
  // policy, pending under approve; it plays at once when nothing else does.
  StyleUpdate submit(StyleRequest request, std::int64_t now_ms);
  // pending → queued (and active at once when nothing plays).
  StyleUpdate approve(long long id, std::int64_t now_ms);
  // pending or queued → rejected.
  StyleUpdate reject(long long id, std::int64_t now_ms);
  // active → skipped; the next queued request plays, else the base style. No-op when idle.
  StyleUpdate skip(std::int64_t now_ms);
  // Every pending and queued request → cleared; the active one plays on.
  StyleUpdate clear(std::int64_t now_ms);
  // Ends the active request whose slot is over (→ done) and starts the next.
  StyleUpdate tick(std::int64_t now_ms);
  // The stream ended: active → done, pending and queued → cleared.
  StyleUpdate end_all(std::int64_t now_ms);
  // Goes on with the open requests of a stream that moved here from another node (an empty
  // queue only): the active one keeps its started_ms and so the rest of its slot, queued ones
  // play by queue_order, pending ones wait oldest first. Beyond the one that started last, an
  // active request is done; with none active the head of the queue starts. The cap on waiting
  // requests does not apply: nothing a viewer was promised is dropped.
  StyleUpdate resume(std::vector<StyleRequest> open, std::int64_t now_ms);

  // Switching to auto queues what was pending, in arrival order.
  StyleUpdate set_policy(StylePolicy policy, std::int64_t now_ms);
  // A new slot length applies to the active request too (it may end at the next tick).
  void set_slot_ms(std::int64_t slot_ms);
  void set_base_style(std::string base_style);

  CurrentStyle current() const;
  // Queued requests in the order they will play.
  const std::deque<StyleRequest>& queued() const { return queued_; }
  // Requests awaiting approval, oldest first.
  const std::deque<StyleRequest>& pending() const { return pending_; }
  const StyleQueueConfig& config() const { return config_; }
  // A request still in play (pending, queued or active), or nullptr.
  const StyleRequest* find(long long id) const;
  bool full() const { return queued_.size() + pending_.size() >= config_.max_waiting; }

 private:
  // Appends r to the play order as queued.
  void enqueue(StyleRequest r, std::vector<StyleRequest>& changed);
  // Starts the head of the queue when nothing plays.
  void promote(std::int64_t now_ms, std::vector<StyleRequest>& changed);
  void finish_active(StyleStatus status, std::int64_t now_ms, std::vector<StyleRequest>& changed);

  StyleQueueConfig config_;
  std::optional<StyleRequest> active_;
  std::deque<StyleRequest> queued_;
  std::deque<StyleRequest> pending_;
  std::int64_t next_order_ = 1;
};

}  // namespace ds::domain
