#include "live/recorder.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>

#include "live/recording_writer.hpp"
#include "store/stream_settings.hpp"

namespace ds::live {

namespace fs = std::filesystem;

namespace {

video::HlsConfig recording_media(video::HlsConfig media) {
  // A complete segment is handed to the writer at once: the segmenter needs to keep no window,
  // and no parts (nobody plays a recording at the live edge).
  media.window_segments = 2;
  media.part_segments = 0;
  return media;
}

}  // namespace

Recorder::Recorder(const Clock& clock, store::Database& db, Hub& hub, VideoHub* video,
                   RecorderConfig config)
    : clock_(clock), db_(db), hub_(hub), video_(video), config_(std::move(config)) {
  config_.media = recording_media(config_.media);
  writer_ = std::thread([this] { run_writer(); });
}

Recorder::~Recorder() { shutdown(); }

fs::path Recorder::directory(long long user_id, long long session_id) const {
  return config_.media_dir / "recordings" / std::to_string(user_id) / std::to_string(session_id);
}

fs::path Recorder::scratch_directory() const { return config_.media_dir / "tmp"; }

void Recorder::post(std::function<void()> job) {
  {
    std::lock_guard lock(queue_mutex_);
    if (stopping_) return;
    queue_.push_back(std::move(job));
  }
  queue_cv_.notify_one();
}

void Recorder::run_writer() {
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock lock(queue_mutex_);
      queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    try {
      job();
    } catch (const std::exception& e) {
      spdlog::error("event=recording_job_failed error=\"{}\"", e.what());
    }
  }
}

void Recorder::flush() {
  auto done = std::make_shared<std::promise<void>>();
  auto f = done->get_future();
  {
    std::lock_guard lock(queue_mutex_);
    if (stopping_) return;
    queue_.push_back([done] { done->set_value(); });
  }
  queue_cv_.notify_one();
  f.wait();
}

std::vector<Recorder::Piece> Recorder::take_complete(Active& a) {
  std::vector<Piece> out;
  auto last = a.segmenter ? a.segmenter->last_complete() : std::nullopt;
  if (!last) return out;
  for (auto msn = a.handed + 1; msn <= *last; ++msn) {
    const auto* seg = a.segmenter->segment(msn);
    if (!seg || !seg->complete || !seg->bytes) continue;
    Piece p;
    p.segment = {msn, seg->init_msn, seg->duration, seg->start_ms};
    p.bytes = seg->bytes;
    if (seg->init_msn != a.last_init) {
      p.init = a.segmenter->init(seg->init_msn);
      a.last_init = seg->init_msn;
    }
    out.push_back(std::move(p));
  }
  a.handed = std::max(a.handed, *last);
  return out;
}

void Recorder::on_unit(const std::string& username, long long session_id,
                       const video::AccessUnit& unit) {
  std::lock_guard lock(mutex_);
  auto it = active_.find(username);
  if (it == active_.end() || it->second.session_id != session_id) return;
  Active& a = it->second;
  if (!a.segmenter) {
    if (!unit.keyframe) return;  // a recording starts at a keyframe
    a.segmenter = std::make_unique<video::HlsSegmenter>(config_.media, a.first_msn, unit.pts_ms);
  }
  if (!a.segmenter->push(unit)) return;
  auto pieces = take_complete(a);
  if (pieces.empty()) return;
  // Under the lock: a stop's last job comes after this one.
  post([this, writer = a.writer, session_id, user_id = a.user_id, username,
        pieces = std::move(pieces)] {
    write(writer, session_id, user_id, username, pieces, false);
  });
}

void Recorder::stream_ended(const std::string& username) { stop(username, 0, "stream_ended"); }

void Recorder::stop(const std::string& username, long long session_id, const char* why) {
  {
    std::lock_guard lock(mutex_);
    auto it = active_.find(username);
    if (it == active_.end() || (session_id != 0 && it->second.session_id != session_id)) return;
    Active a = std::move(it->second);
    active_.erase(it);
    session_id = a.session_id;
    std::vector<Piece> pieces;
    if (a.segmenter && a.segmenter->finish()) pieces = take_complete(a);
    post([this, writer = a.writer, session_id, user_id = a.user_id, username,
          pieces = std::move(pieces)] {
      write(writer, session_id, user_id, username, pieces, true);
    });
  }
  if (video_) video_->record(username, session_id, false);
  spdlog::info("event=recording_stopped stream={} session_id={} reason={}", username, session_id,
               why);
}

void Recorder::set_record(const store::User& streamer, bool on) {
  post([this, user_id = streamer.id, username = streamer.username, on] {
    auto snap = hub_.snapshot(username);
    if (!snap) return;  // not live here: the setting applies from the next session
    if (on) {
      start(user_id, username, snap->session_id);
    } else {
      stop(username, snap->session_id, "switched_off");
    }
  });
}

void Recorder::tick() {
  auto now = clock_.now_ms();
  auto live = hub_.snapshots();
  std::vector<StreamSnapshot> fresh;
  std::vector<std::pair<std::string, long long>> gone;
  bool sweep_due = false;
  {
    std::lock_guard lock(mutex_);
    std::unordered_set<long long> ids;
    for (const auto& s : live) {
      ids.insert(s.session_id);
      if (seen_.insert(s.session_id).second) fresh.push_back(s);
    }
    std::erase_if(seen_, [&](long long id) { return !ids.contains(id); });
    for (const auto& [name, a] : active_) {
      if (!ids.contains(a.session_id)) gone.emplace_back(name, a.session_id);
    }
    if (now - last_sweep_ms_ >= config_.sweep_every_ms) {
      last_sweep_ms_ = now;
      sweep_due = true;
    }
  }
  for (const auto& s : fresh) {
    post([this, user_id = s.user_id, username = s.username, session_id = s.session_id] {
      consider(user_id, username, session_id);
    });
  }
  // Its session ended without the stream ending here (it moved to another node).
  for (const auto& [name, session_id] : gone) stop(name, session_id, "left_node");
  if (sweep_due) post([this] { do_sweep(); });
}

void Recorder::consider(long long user_id, const std::string& username, long long session_id) {
  auto settings =
      db_.with([&](soci::session& sql) { return store::load_stream_settings(sql, user_id); });
  if (settings.record) start(user_id, username, session_id);
}

void Recorder::start(long long user_id, const std::string& username, long long session_id) {
  if (!video_) {
    spdlog::warn(
        "event=recording_unavailable stream={} reason=\"this node encodes no video "
        "(--video off)\"",
        username);
    return;
  }
  auto snap = hub_.snapshot(username);
  if (!snap || snap->session_id != session_id) return;  // it ended or moved meanwhile
  {
    std::lock_guard lock(mutex_);
    auto it = active_.find(username);
    if (it != active_.end() && it->second.session_id == session_id) return;  // already
  }
  auto now = clock_.now_ms();
  db_.write(
      [&](soci::session& sql) { return store::insert_recording(sql, session_id, user_id, now); });
  auto writer = std::make_shared<RecordingWriter>(directory(user_id, session_id));
  bool resumed = !writer->playlist().segments.empty();
  {
    std::lock_guard lock(mutex_);
    Active a;
    a.session_id = session_id;
    a.user_id = user_id;
    a.writer = writer;
    a.first_msn = writer->playlist().next_msn();
    a.handed = a.first_msn - 1;
    active_[username] = std::move(a);
  }
  video_->record(username, session_id, true);
  store::Recording r;
  r.session_id = session_id;
  r.state = "recording";
  r.bytes = writer->bytes();
  r.duration_ms = writer->playlist().duration_ms();
  r.segments = static_cast<long long>(writer->playlist().segments.size());
  r.updated_ms = now;
  db_.write([&](soci::session& sql) { return store::update_recording(sql, r); });
  spdlog::info("event=recording_started stream={} user_id={} session_id={} resumed={}", username,
               user_id, session_id, resumed);
}

void Recorder::write(const std::shared_ptr<RecordingWriter>& writer, long long session_id,
                     long long user_id, const std::string& username,
                     const std::vector<Piece>& pieces, bool finish) {
  if (writer->abandoned()) return;
  for (const auto& p : pieces) {
    if (p.init) writer->add_init(p.segment.init_msn, *p.init);
    writer->add_segment(p.segment, *p.bytes);
  }
  const auto& playlist = writer->playlist();
  if (finish && playlist.segments.empty()) {
    // Not one segment was kept (it ended before a keyframe came): nothing to replay.
    writer->abandon();
    delete_files(user_id, session_id);
    db_.write([&](soci::session& sql) { return store::delete_recording(sql, session_id); });
    return;
  }
  if (finish) writer->finish();
  store::Recording r;
  r.session_id = session_id;
  r.state = finish ? "complete" : "recording";
  r.bytes = writer->bytes();
  r.duration_ms = playlist.duration_ms();
  r.segments = static_cast<long long>(playlist.segments.size());
  r.updated_ms = clock_.now_ms();
  bool there = db_.write([&](soci::session& sql) { return store::update_recording(sql, r); });
  if (there) return;
  // Deleted meanwhile (by a node that does not record it, or with the account): the files go
  // too, and it is recorded no more.
  writer->abandon();
  bool recording = false;
  {
    std::lock_guard lock(mutex_);
    auto it = active_.find(username);
    if (it != active_.end() && it->second.session_id == session_id) {
      active_.erase(it);
      recording = true;
    }
  }
  if (recording && video_) video_->record(username, session_id, false);
  delete_files(user_id, session_id);
  spdlog::info("event=recording_dropped session_id={} reason=\"its row was deleted\"", session_id);
}

void Recorder::delete_files(long long user_id, long long session_id) {
  std::error_code ec;
  auto dir = directory(user_id, session_id);
  fs::remove_all(dir, ec);
  if (ec) {
    spdlog::error("event=recording_delete_failed dir={} error=\"{}\"", dir.string(), ec.message());
  }
  fs::remove(dir.parent_path(), ec);  // the account's directory, when it is empty now
}

void Recorder::close_unclosed() {
  auto rows = db_.with([](soci::session& sql) { return store::list_unclosed_recordings(sql); });
  for (const auto& row : rows) {
    {
      std::lock_guard lock(mutex_);
      bool here = std::any_of(active_.begin(), active_.end(), [&](const auto& kv) {
        return kv.second.session_id == row.session_id;
      });
      if (here) continue;
    }
    auto dir = directory(row.user_id, row.session_id);
    if (!fs::exists(dir)) continue;  // another node's disk: that node closes it
    RecordingWriter w(dir);
    if (w.playlist().segments.empty()) {
      delete_files(row.user_id, row.session_id);
      db_.write([&](soci::session& sql) { return store::delete_recording(sql, row.session_id); });
      continue;
    }
    w.finish();
    store::Recording r = row;
    r.state = "complete";
    r.bytes = w.bytes();
    r.duration_ms = w.playlist().duration_ms();
    r.segments = static_cast<long long>(w.playlist().segments.size());
    r.updated_ms = clock_.now_ms();
    db_.write([&](soci::session& sql) { return store::update_recording(sql, r); });
    spdlog::info(
        "event=recording_closed session_id={} segments={} duration_ms={} reason=\"its session "
        "ended while it was being recorded (a node stopped)\"",
        r.session_id, r.segments, r.duration_ms);
  }
}

void Recorder::do_sweep() {
  close_unclosed();
  auto now = clock_.now_ms();
  auto rows = db_.with([&](soci::session& sql) {
    return store::list_sweep_candidates(sql, now - config_.rules.keep_ms,
                                        config_.rules.quota_bytes);
  });
  std::vector<domain::RecordingUsage> usage;
  usage.reserve(rows.size());
  for (const auto& r : rows) {
    usage.push_back({r.session_id, r.user_id, r.state == "complete", r.bytes, r.created_ms});
  }
  auto plan = domain::plan_sweep(usage, now, config_.rules);
  for (const auto& r : plan.remove) {
    if (!fs::exists(directory(r.user_id, r.session_id))) continue;  // another node's disk
    delete_files(r.user_id, r.session_id);
    db_.write([&](soci::session& sql) { return store::delete_recording(sql, r.session_id); });
    spdlog::info("event=recording_swept user_id={} session_id={} reason={}", r.user_id,
                 r.session_id, r.reason);
  }
  for (const auto& r : plan.stop) {
    std::string name;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [n, a] : active_) {
        if (a.session_id == r.session_id) name = n;
      }
    }
    if (name.empty()) continue;  // recorded by another node: it stops it
    spdlog::warn(
        "event=recording_over_quota user_id={} session_id={} quota_bytes={} reason=\"the "
        "account's recordings passed its storage quota: this recording stops here\"",
        r.user_id, r.session_id, config_.rules.quota_bytes);
    stop(name, r.session_id, "quota");
  }
}

void Recorder::recover() {
  post([this] { close_unclosed(); });
  flush();
}

void Recorder::sweep() {
  post([this] { do_sweep(); });
  flush();
}

std::optional<store::Recording> Recorder::find(long long session_id) {
  return db_.with([&](soci::session& sql) { return store::find_recording(sql, session_id); });
}

std::vector<store::RecordingListing> Recorder::list(long long user_id, bool with_private,
                                                    long long before, int limit) {
  return db_.with([&](soci::session& sql) {
    return store::list_user_recordings(sql, user_id, with_private, before, limit);
  });
}

std::optional<store::Recording> Recorder::set_public(long long user_id, long long session_id,
                                                     bool is_public) {
  return db_.write([&](soci::session& sql) -> std::optional<store::Recording> {
    if (!store::set_recording_public(sql, user_id, session_id, is_public)) return std::nullopt;
    return store::find_recording(sql, session_id);
  });
}

bool Recorder::remove(long long user_id, long long session_id) {
  auto row = find(session_id);
  if (!row || row->user_id != user_id) return false;
  std::string name;
  {
    std::lock_guard lock(mutex_);
    for (auto it = active_.begin(); it != active_.end(); ++it) {
      if (it->second.session_id != session_id) continue;
      name = it->first;
      it->second.writer->abandon();  // read by writer jobs only, which run after this one's
      active_.erase(it);
      break;
    }
  }
  if (!name.empty() && video_) video_->record(name, session_id, false);
  // After the writes already queued for it, on the writer thread; inline once it has stopped.
  auto done = std::make_shared<std::promise<void>>();
  auto f = done->get_future();
  auto job = [this, user_id, session_id, done] {
    try {
      delete_files(user_id, session_id);
      db_.write([&](soci::session& sql) { return store::delete_recording(sql, session_id); });
      done->set_value();
    } catch (...) {
      done->set_exception(std::current_exception());  // the caller answers 503 or 500
    }
  };
  bool queued = false;
  {
    std::lock_guard lock(queue_mutex_);
    if (!stopping_) {
      queue_.push_back(job);
      queued = true;
    }
  }
  if (queued) {
    queue_cv_.notify_one();
  } else {
    job();
  }
  f.get();
  spdlog::info("event=recording_deleted user_id={} session_id={}", user_id, session_id);
  return true;
}

void Recorder::remove_all(long long user_id) {
  auto rows =
      db_.with([&](soci::session& sql) { return store::list_all_user_recordings(sql, user_id); });
  for (const auto& r : rows) remove(user_id, r.session_id);
}

void Recorder::shutdown() {
  std::vector<std::pair<std::string, long long>> all;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [name, a] : active_) all.emplace_back(name, a.session_id);
  }
  for (const auto& [name, session_id] : all) stop(name, session_id, "shutdown");
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

std::size_t Recorder::queued() {
  std::lock_guard lock(queue_mutex_);
  return queue_.size();
}

std::size_t Recorder::active() const {
  std::lock_guard lock(mutex_);
  return active_.size();
}

}  // namespace ds::live
