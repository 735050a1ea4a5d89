// StreamService with many nodes: the streams of dead nodes (orphans) are ended once each across
// the cluster, billed to the last frame either the registry or the row knows of.
#include <spdlog/spdlog.h>

#include <unordered_set>

#include "live/cluster.hpp"
#include "live/protocol.hpp"
#include "live/stream_service.hpp"
#include "store/users.hpp"

namespace ds::live {

void StreamService::end_orphan(const StreamSnapshot& announced, std::int64_t now) {
  auto row = db_.with(
      [&](soci::session& sql) { return store::find_stream_session(sql, announced.session_id); });
  if (!row || row->ended_ms != 0) return;
  After after;
  bool ended = false;
  {
    // Under the user's StreamLock, so its events stay in order with this node's own.
    StreamLock lock(*this, row->user_id);
    // Taken from its home first: a home that was only out of touch (not dead) finds at its
    // next charge or save that the stream is gone, and bills nothing more.
    auto epoch = db_.write([&](soci::session& sql) {
      return store::claim_stream_home(sql, row->id, cluster_->node_id());
    });
    if (!epoch) return;
    StreamMeter m;
    m.epoch = *epoch;
    m.charged_minutes =
        db_.with([&](soci::session& sql) { return store::usage_totals(sql, row->id); }).minutes;
    StreamSnapshot snap = announced;
    // Billed to the last frame either record knows of (announced each second, saved each two).
    snap.first_frame_ms =
        announced.first_frame_ms > 0 ? announced.first_frame_ms : row->first_frame_ms;
    snap.last_frame_ms = std::max<std::int64_t>(announced.last_frame_ms, row->last_frame_ms);
    snap.max_viewers = std::max<int>(announced.max_viewers, static_cast<int>(row->max_viewers));
    Ending e{row->id, row->user_id,       announced.username,
             m,       kStatusInterrupted, snap.last_frame_ms > 0 ? snap.last_frame_ms : now,
             snap};
    try {
      settle(e);
    } catch (const store::DatabaseUnavailable&) {
      std::lock_guard registry(mutex_);
      unsettled_.push_back(std::move(e));
    }
    spdlog::warn("event=orphan_ended stream={} session_id={}", announced.username, row->id);
    if (!announced.username.empty()) {
      // No LiveStream: it was not open here.
      post(after, row->user_id,
           StreamEnded{announced.username, row->user_id, row->id, EndReason::kInterrupted});
      ended = true;
    }
  }
  if (ended) {
    hub_.broadcast_text(announced.username, wire::encode_state(StreamState::kEnded));
    hub_.broadcast_text(announced.username,
                        wire::encode_ended(EndReason::kInterrupted, "the stream's server stopped"));
  }
  done(after);
  cluster_->withdraw(row->id);
}

void StreamService::sweep_orphans(std::int64_t now) {
  if (!cluster_ || !cluster_->healthy()) {
    // With Redis away nobody is announced: nothing can be judged missing.
    unannounced_.clear();
    return;
  }
  if (now - last_sweep_ms_ >= 1000) {
    last_sweep_ms_ = now;
    for (const auto& o : cluster_->orphans()) {
      try {
        end_orphan(o.snapshot, now);
      } catch (const std::exception& e) {
        spdlog::error("event=orphan_end_failed session_id={} error=\"{}\"", o.snapshot.session_id,
                      e.what());
      }
    }
  }
  // Open streams no node announces (a home that died with Redis away, or a node that died
  // ending an orphan): ended once they have been missing for the grace period.
  if (now - last_db_sweep_ms_ < 2000) return;
  last_db_sweep_ms_ = now;
  auto open = db_.with([](soci::session& sql) { return store::list_open_stream_sessions(sql); });
  // One question to Redis for all of them; the database only for the few nobody announces.
  auto streams = cluster_->streams();
  if (!streams) return;  // unknown is not missing
  std::unordered_set<long long> announced;
  for (const auto& a : *streams) announced.insert(a.snapshot.session_id);
  for (const auto& s : hub_.streams()) announced.insert(s->session_id);
  std::unordered_map<long long, std::int64_t> still;
  for (const auto& s : open) {
    if (announced.contains(s.id)) continue;
    auto since = unannounced_.contains(s.id) ? unannounced_[s.id] : now;
    still[s.id] = since;
    if (now - since <= config_.grace_ms) continue;
    auto user = db_.with([&](soci::session& sql) { return store::find_user(sql, s.user_id); });
    if (!user) continue;
    if (!cluster_->lease("end:" + std::to_string(s.id), std::chrono::seconds(60))) continue;
    StreamSnapshot snap;
    snap.session_id = s.id;
    snap.user_id = s.user_id;
    snap.username = user->username;
    snap.first_frame_ms = s.first_frame_ms;
    snap.last_frame_ms = s.last_frame_ms;
    snap.max_viewers = static_cast<int>(s.max_viewers);
    snap.frames_in = static_cast<std::uint64_t>(s.frames_in);
    snap.frames_out = static_cast<std::uint64_t>(s.frames_out);
    end_orphan(snap, now);
    still.erase(s.id);
  }
  unannounced_ = std::move(still);
}

}  // namespace ds::live
