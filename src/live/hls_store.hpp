// Live HLS media of this node's streams (docs/architecture.md#hls): per stream, the segmenter
// fed with the encoder's units (video::HlsSegmenter: a bounded window of segments and parts),
// and the requests waiting for a part that is not there yet (blocking playlist reloads,
// preload hints), each woken by a callback, never by a thread that waits. Thread-safe; a waker
// is called with no lock of the store held.
//
// A stream's segments are numbered per session: a segmenter started again within a session
// (its last HLS consumer left and another came) goes on from the next number and on the same
// timeline, so /hls/<session>/<msn>.m4s always means the same bytes.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "live/picture_tap.hpp"
#include "util/clock.hpp"
#include "video/hls_segmenter.hpp"

namespace ds::live {

struct HlsStoreConfig {
  video::HlsConfig media;
  // An ended stream's last playlist (with EXT-X-ENDLIST) and media stay answerable this long.
  std::int64_t keep_ended_ms = 60'000;
  // Requests that may wait on one stream at once; more are refused (kBusy).
  std::size_t max_waiters = 512;
  // Of those, from one client address (one address cannot take a stream's every place).
  std::size_t max_waiters_per_client = 64;
};

class HlsStore {
 public:
  HlsStore(const Clock& clock, HlsStoreConfig config);
  HlsStore(const HlsStore&) = delete;
  HlsStore& operator=(const HlsStore&) = delete;

  // The encoder's next unit of username's stream (its session), on the encoder's thread.
  void on_unit(const std::string& username, long long session_id, const video::AccessUnit& unit);
  // The stream ended: its last part and segment are closed, the playlist gets EXT-X-ENDLIST
  // and stays keep_ended_ms. Waiters are answered.
  void end(const std::string& username);
  // Its last HLS consumer left while it is live: the media is let go (the numbering is kept
  // for the session) and waiters are answered not ready.
  void drop(const std::string& username);
  // A move: where username's session_id stands here (nullopt: none of it here); and on the new
  // home, before its first unit, where it goes on from (numbers past c.next_msn at least, c's
  // timeline), as a segmenter started again within the session does.
  std::optional<MediaContinuation> continuation(const std::string& username,
                                                long long session_id) const;
  void continue_from(const std::string& username, long long session_id, const MediaContinuation& c);
  // Answers waiters past their deadline (not ready) and forgets ended streams past
  // keep_ended_ms. A few times a second.
  void tick();

  struct Playlist {
    long long session_id = 0;
    bool ended = false;
    std::string text;
  };
  // username's playlist, its media URIs under "hls/<session>/"; nullopt until its first
  // complete segment (or when it has none: never started, let go, forgotten).
  std::optional<Playlist> playlist(const std::string& username) const;

  enum class Media { kInit, kSegment, kPart };
  // The bytes of init-<msn>.mp4, <msn>.m4s or <msn>.<part>.m4s of that session; null when the
  // window does not hold them.
  std::shared_ptr<const std::string> media(const std::string& username, long long session_id,
                                           Media kind, std::int64_t msn, int part = 0) const;

  // What a waiting request waits for.
  struct Until {
    enum class Kind { kFirstSegment, kSegment, kPart } kind = Kind::kFirstSegment;
    long long session_id = 0;  // kSegment, kPart: of this session (0: whichever is there)
    std::int64_t msn = 0;
    int part = 0;
  };
  enum class Wait {
    kReady,    // already there: answer now
    kWaiting,  // wake will be called once: true when it is there (or the stream ended),
               // false at the deadline or when the media was let go
    kTooFar,   // an msn more than two segments past the newest: a bad request (RFC 8216bis)
    kBusy,     // max_waiters already wait on this stream
    kGone,     // of another session than the one there: it will never come
  };
  using Waker = std::function<void(bool ready)>;
  // Who waits: its address (max_waiters_per_client), and a flag its connection sets when it
  // closes; such a waiter is let go (its waker dropped, never called) at the next wait or tick.
  struct Client {
    std::string address;
    std::shared_ptr<const std::atomic<bool>> gone;
  };
  Wait wait(const std::string& username, const Until& until, std::int64_t deadline_ms, Waker wake,
            Client client = {});

  // Shutdown: forgets every waiting request unanswered, so the connections they hold go
  // before the server's event loops do.
  void release_waiters();

  // Streams with media or waiters; waiters of one stream (tests, metrics).
  std::size_t streams() const;
  std::size_t waiters(const std::string& username) const;
  std::size_t bytes() const;
  // Requests waiting on every stream (metrics).
  std::size_t waiting() const;

 private:
  struct Waiter {
    Until until;
    std::int64_t deadline_ms = 0;
    Waker wake;
    Client client;
    bool gone() const { return client.gone && client.gone->load(); }
  };
  struct Entry {
    long long session_id = 0;
    std::unique_ptr<video::HlsSegmenter> media;  // null: none yet, or let go
    // Where a next segmenter of the same session goes on from.
    std::int64_t next_msn = 0;
    std::int64_t origin_ms = 0;
    std::int64_t ended_ms = 0;  // 0: live
    std::vector<Waiter> waiters;
  };
  enum class State { kNo, kYes, kNever };
  static State reached(const Entry& e, const Until& until);
  // Under the lock: moves the waiters whose answer is known into `out`.
  static void settle(Entry& e, std::vector<std::pair<Waker, bool>>& out);
  // Under the lock: moves the wakers of waiters whose client has gone into `out` (to be
  // dropped after the lock: each may hold the last reference to a connection).
  static void forget_gone(Entry& e, std::vector<Waker>& out);
  static void run(std::vector<std::pair<Waker, bool>>& wakes);

  const Clock& clock_;
  HlsStoreConfig config_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> streams_;
};

}  // namespace ds::live
