#include "live/video_hub.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace ds::live {

namespace {

// Pictures handed over whose units have not come back: the runner's mailbox holds one and
// drops the rest, so this only has to outlast a few drops.
constexpr std::size_t kMaxSubmitted = 64;

}  // namespace

VideoHub::VideoHub(VideoHubConfig config)
    : config_(std::move(config)), runner_(config_.encoder, config_.threads) {}

VideoHub::~VideoHub() = default;

void VideoHub::add_viewer(const std::string& username, std::shared_ptr<Peer> peer) {
  std::lock_guard lock(mutex_);
  auto it = streams_.try_emplace(username, config_.gop_max_bytes).first;
  Stream& s = it->second;
  auto next = std::make_shared<Viewers>(*s.viewers);
  next->push_back(peer);
  s.viewers = std::move(next);
  if (!s.encoding) open_encoder(username, s);
  // Under the lock: a unit pushed to the GOP after this join reaches the viewer through
  // send_video, one pushed before it through this GOP, none both ways or neither.
  peer->start_video(s.gop.join());
}

void VideoHub::remove_viewer(const std::string& username, const Peer* peer) {
  std::lock_guard lock(mutex_);
  auto it = streams_.find(username);
  if (it == streams_.end()) return;
  Stream& s = it->second;
  auto next = std::make_shared<Viewers>(*s.viewers);
  std::erase_if(*next, [&](const auto& p) { return p.get() == peer; });
  s.viewers = std::move(next);
  if (s.consumed()) return;
  close_encoder(username, s);
  streams_.erase(it);
}

void VideoHub::watch_hls(const std::string& username, std::int64_t now_ms) {
  if (!hls_) return;
  std::lock_guard lock(mutex_);
  auto it = streams_.try_emplace(username, config_.gop_max_bytes).first;
  Stream& s = it->second;
  bool joined = s.hls_until_ms == 0;
  s.hls_until_ms = now_ms + config_.hls_keep_ms;
  if (!s.encoding) {
    open_encoder(username, s);
  } else if (joined && s.session_id != 0) {
    // Under the lock, as a joining viewer: a unit pushed to the GOP before this reaches the
    // store here, a later one through on_unit; one that comes both ways is refused by the
    // segmenter as not newer.
    for (const auto& d : s.gop.join()) hls_->on_unit(username, s.session_id, *d.unit);
  }
}

void VideoHub::record(const std::string& username, long long session_id, bool on) {
  if (!recorder_) return;
  std::lock_guard lock(mutex_);
  if (on) {
    auto it = streams_.try_emplace(username, config_.gop_max_bytes).first;
    Stream& s = it->second;
    s.recording = session_id;
    // Units go to the recorder from the next one on; the segmenter starts at a keyframe.
    if (!s.encoding) open_encoder(username, s);
    return;
  }
  auto it = streams_.find(username);
  if (it == streams_.end() || it->second.recording != session_id) return;
  Stream& s = it->second;
  s.recording = 0;
  if (s.consumed()) return;
  close_encoder(username, s);
  streams_.erase(it);
}

void VideoHub::tick(std::int64_t now_ms) {
  std::vector<std::string> gone;
  {
    std::lock_guard lock(mutex_);
    for (auto it = streams_.begin(); it != streams_.end();) {
      Stream& s = it->second;
      if (s.hls_until_ms == 0 || s.hls_until_ms > now_ms) {
        ++it;
        continue;
      }
      s.hls_until_ms = 0;
      gone.push_back(it->first);
      if (s.consumed()) {
        ++it;
        continue;
      }
      close_encoder(it->first, s);
      it = streams_.erase(it);
    }
  }
  // Outside the lock: the store answers the requests still waiting on those streams.
  if (hls_) {
    for (const auto& name : gone) hls_->drop(name);
  }
}

void VideoHub::picture(const ShownPicture& p) {
  if (!p.jpeg) return;
  std::lock_guard lock(mutex_);
  auto it = streams_.find(p.username);
  if (it == streams_.end() || !it->second.consumed()) return;
  Stream& s = it->second;
  // A new session of the name (a stream ended and another began, seen here only through its
  // pictures on a node that follows it): a fresh encoder and GOP.
  if (s.encoding && s.session_id != 0 && s.session_id != p.session_id) close_encoder(p.username, s);
  if (!s.encoding) open_encoder(p.username, s);
  s.session_id = p.session_id;
  // The encoder's timestamps must rise; two pictures captured in one millisecond still do.
  std::int64_t pts = std::max(p.captured_ms, s.last_pts_ms + 1);
  s.last_pts_ms = pts;
  s.submitted.push_back({pts, p.seq, p.captured_ms, p.processed_ms});
  if (s.submitted.size() > kMaxSubmitted) s.submitted.pop_front();
  runner_.submit(p.username, p.jpeg, pts);
}

void VideoHub::stream_ended(const std::string& username) {
  {
    std::lock_guard lock(mutex_);
    auto it = streams_.find(username);
    // The viewers stay for the stream's next session; its first picture opens a new encoder.
    if (it != streams_.end()) {
      close_encoder(username, it->second);
      it->second.recording = 0;  // a recording is of one session
      if (!it->second.consumed()) streams_.erase(it);
    }
  }
  // After the encoder is closed, so no unit of the session comes after its end.
  if (hls_) hls_->end(username);
  if (recorder_) recorder_->stream_ended(username);
}

void VideoHub::release_peers() {
  {
    std::lock_guard lock(mutex_);
    for (auto& [name, s] : streams_) close_encoder(name, s);
    streams_.clear();
  }
  // A unit's fan-out under way holds its viewers until it returns; once the runner is idle,
  // no socket is held here any more.
  runner_.wait_idle();
}

std::optional<VideoHub::StreamVideo> VideoHub::stream(const std::string& username) const {
  std::lock_guard lock(mutex_);
  auto it = streams_.find(username);
  if (it == streams_.end()) return std::nullopt;
  const Stream& s = it->second;
  return StreamVideo{static_cast<int>(s.viewers->size()),
                     s.encoding,
                     s.hls_until_ms != 0,
                     s.recording,
                     s.gop.units(),
                     s.gop.bytes(),
                     s.session_id};
}

void VideoHub::open_encoder(const std::string& username, Stream& s) {
  s.generation = next_generation_++;
  s.encoding = true;
  s.session_id = 0;
  s.last_pts_ms = 0;
  auto generation = s.generation;
  runner_.open(username, [this, username, generation](const video::UnitPtr& unit) {
    on_unit(username, generation, unit);
  });
  spdlog::info("event=video_encoder_started stream={}", username);
}

void VideoHub::close_encoder(const std::string& username, Stream& s) {
  if (!s.encoding) return;
  runner_.close(username);
  s.encoding = false;
  s.gop.clear();
  s.submitted.clear();
  s.submitted.shrink_to_fit();
  spdlog::info("event=video_encoder_stopped stream={}", username);
}

void VideoHub::on_unit(const std::string& username, std::uint64_t generation,
                       const video::UnitPtr& unit) {
  std::shared_ptr<const Viewers> viewers;
  video::UnitPtr wired;
  long long session = 0;   // of the unit, when it goes to HLS too
  long long recorded = 0;  // of the unit, when it is recorded
  {
    std::lock_guard lock(mutex_);
    auto it = streams_.find(username);
    if (it == streams_.end() || it->second.generation != generation || !it->second.encoding) {
      return;  // an encoder closed meanwhile
    }
    Stream& s = it->second;
    // The picture this unit encodes: those before it were dropped by the runner's mailbox.
    Submitted picture{unit->pts_ms, 0, unit->pts_ms, unit->pts_ms};
    while (!s.submitted.empty() && s.submitted.front().pts_ms < unit->pts_ms) {
      s.submitted.pop_front();
    }
    if (!s.submitted.empty() && s.submitted.front().pts_ms == unit->pts_ms) {
      picture = s.submitted.front();
      s.submitted.pop_front();
    }
    auto u = std::make_shared<video::AccessUnit>(*unit);
    wire::VideoHeader h{picture.seq,          u->keyframe, false,    u->pts_ms, picture.captured_ms,
                        picture.processed_ms, u->codec,    u->width, u->height};
    u->header = wire::encode_video_header(h);
    h.decode_only = true;
    u->header_decode_only = wire::encode_video_header(h);
    wired = std::move(u);
    s.gop.push(wired);
    viewers = s.viewers;
    if (hls_ && s.hls_until_ms != 0) session = s.session_id;
    if (recorder_ && s.recording != 0 && s.recording == s.session_id) recorded = s.session_id;
  }
  // Outside the lock: the runner gives this stream's next unit only after this returns, so
  // every viewer (and the HLS segmenter) gets them in order.
  for (const auto& v : *viewers) v->send_video(wired);
  if (session != 0) hls_->on_unit(username, session, *wired);
  if (recorded != 0) recorder_->on_unit(username, recorded, *wired);
}

}  // namespace ds::live
