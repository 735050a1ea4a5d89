// Recordings (docs/api.md#recordings): a streamer's list, hiding or showing one, deleting one,
// and playing one: its playlist and media from the media directory, and the whole recording as
// one MP4 (remuxed on the blocking pool). A private recording is answered 404, as a missing one
// is, to anyone but its owner.
#include <spdlog/spdlog.h>

#include <fstream>
#include <mutex>
#include <sstream>

#include "api/app.hpp"
#include "api/file_reply.hpp"
#include "auth/crypto.hpp"
#include "domain/recording_rules.hpp"
#include "live/recorder.hpp"
#include "video/mp4_remux.hpp"
#include "video/vod_playlist.hpp"

namespace ds::api {

namespace {

namespace fs = std::filesystem;

constexpr const char* kPlaylistType = "application/vnd.apple.mpegurl";
constexpr int kDefaultPage = 50;
constexpr int kMaxPage = 100;

std::string base_url(const std::string& username, long long session_id) {
  return "/u/" + username + "/sessions/" + std::to_string(session_id) + "/";
}

nlohmann::json recording_json(const std::string& username, const store::RecordingListing& l) {
  const auto& r = l.recording;
  auto base = base_url(username, r.session_id);
  return {{"session_id", r.session_id},
          {"started_ms", l.started_ms},
          {"ended_ms", l.ended_ms > 0 ? nlohmann::json(l.ended_ms) : nlohmann::json()},
          {"duration_ms", r.duration_ms},
          {"bytes", r.bytes},
          {"peak_viewers", l.peak_viewers},
          {"public", r.is_public},
          {"state", r.state},
          {"playlist_url", base + "index.m3u8"},
          {"download_url", base + "download.mp4"}};
}

Response handle_list(App& app, Request& req) {
  auto user = find_streamer(app, req.params["username"]);
  if (!user) return error_response(user.error());
  auto page = parse_page(req, kDefaultPage, kMaxPage);
  if (!page) return error_response(page.error());
  auto me = optional_user(app, req);
  bool owner = me && me->user.id == user->id;
  auto rows = app.recordings->list(user->id, owner, page->before, page->limit + 1);
  bool more = static_cast<int>(rows.size()) > page->limit;
  if (more) rows.pop_back();
  auto list = nlohmann::json::array();
  for (const auto& r : rows) list.push_back(recording_json(user->username, r));
  return json_response(200, {{"recordings", list},
                             {"next_before", more ? nlohmann::json(rows.back().recording.session_id)
                                                  : nlohmann::json()}});
}

Response no_recording() { return error_response(not_found("no such recording")); }

Response handle_patch(App& app, Request& req, const auth::Principal& p) {
  auto id = parse_positive_id(req.params["id"]);
  if (!id) return no_recording();
  auto body = parse_json_object(req);
  if (!body) return error_response(body.error());
  auto is_public = bool_field(*body, "public");
  if (!is_public) return error_response(is_public.error());
  if (!app.recordings->set_public(p.user.id, *id, *is_public)) return no_recording();
  auto rows = app.recordings->list(p.user.id, true, *id + 1, 1);
  if (rows.empty() || rows.front().recording.session_id != *id) return no_recording();
  return json_response(200, {{"recording", recording_json(p.user.username, rows.front())}});
}

Response handle_delete(App& app, Request& req, const auth::Principal& p) {
  auto id = parse_positive_id(req.params["id"]);
  if (!id || !app.recordings->remove(p.user.id, *id)) return no_recording();
  return json_response(200, {{"ok", true}});
}

std::optional<std::string> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  if (!in.good() && !in.eof()) return std::nullopt;
  return std::move(out).str();
}

// The recording a media request names, when the caller may see it.
struct Visible {
  store::User owner;
  store::Recording recording;
  fs::path dir;
};
std::optional<Visible> visible(App& app, Request& req) {
  auto user = app.auth.find_user_by_username(req.params["username"]);
  auto id = parse_positive_id(req.params["id"]);
  if (!user || !id) return std::nullopt;
  auto rec = app.recordings->find(*id);
  if (!rec || rec->user_id != user->id) return std::nullopt;
  if (!rec->is_public) {
    auto me = optional_user(app, req);
    if (!me || me->user.id != user->id) return std::nullopt;
  }
  return Visible{*user, *rec, app.recordings->directory(user->id, *id)};
}

// A public recording is for anyone and any cache; a private one for its owner's browser only.
Response with_cache(Response r, const Visible& v, const std::string& max_age) {
  if (v.recording.is_public) {
    r.set_header("Access-Control-Allow-Origin", "*");
    r.set_header("Cache-Control", "public, " + max_age);
  } else {
    r.set_header("Cache-Control", "private, " + max_age);
  }
  return r;
}

// One remux at a time on this node: a recording's MP4 is made once (on its first download) and
// kept beside its segments, so requests for it, ranges included, are answered from disk.
std::mutex remux_mutex;

// The recording as one MP4 (made on first use), whole or a byte range: streamed from disk, never
// held in memory. Only once the recording is complete: a growing one would have to be remuxed
// for each request.
Response download(App& app, const Request& req, const Visible& v) {
  if (v.recording.state != "complete") {
    return error_response(409, "recording_in_progress",
                          "the MP4 is made when the broadcast ends; the recording plays meanwhile");
  }
  auto made = v.dir / "download.mp4";
  std::error_code ec;
  if (!fs::exists(made, ec)) {
    std::lock_guard lock(remux_mutex);
    if (!fs::exists(made, ec)) {
      auto text = read_file(v.dir / "index.m3u8");
      auto playlist = text ? video::parse_vod_playlist(*text) : std::nullopt;
      if (!playlist || playlist->segments.empty()) return no_recording();
      std::vector<video::RemuxGroup> groups;
      for (const auto& s : playlist->segments) {
        if (groups.empty() ||
            groups.back().init.filename() != fs::path(domain::recording_init_name(s.init_msn))) {
          groups.push_back({v.dir / domain::recording_init_name(s.init_msn), {}});
        }
        groups.back().segments.push_back(v.dir / domain::recording_segment_name(s.msn));
      }
      auto scratch = app.recordings->scratch_directory();
      fs::create_directories(scratch, ec);
      auto out = scratch / (auth::random_token("dl") + ".mp4");
      if (auto why = video::remux_to_mp4(groups, out)) {
        spdlog::error("event=recording_download_failed session_id={} error=\"{}\"",
                      v.recording.session_id, *why);
        return error_response(500, "internal", "the recording could not be made into one file");
      }
      // Whole or not at all: a reader never sees a half-written file.
      fs::rename(out, made, ec);
      if (ec) {
        fs::remove(out, ec);
        return error_response(500, "internal", "the recording's file could not be kept");
      }
      spdlog::info("event=recording_remuxed session_id={} bytes={}", v.recording.session_id,
                   fs::file_size(made, ec));
    }
  }
  auto r = file_response(req, made, "video/mp4");
  if (r.status == 404) return no_recording();  // deleted meanwhile
  r.set_header("Content-Disposition", "attachment; filename=\"" + v.owner.username + "-" +
                                          std::to_string(v.recording.session_id) + ".mp4\"");
  return with_cache(std::move(r), v, "max-age=3600");
}

Response handle_file(App& app, Request& req) {
  const std::string& name = req.params["file"];
  bool is_download = name == "download.mp4";
  auto file = domain::parse_recording_file(name);
  if (!file && !is_download) return no_recording();
  auto v = visible(app, req);
  if (!v) return no_recording();
  if (is_download) return download(app, req, *v);
  bool playlist = file->kind == domain::RecordingFileKind::kPlaylist;
  auto r = file_response(req, v->dir / name,
                         playlist                                         ? kPlaylistType
                         : file->kind == domain::RecordingFileKind::kInit ? "video/mp4"
                                                                          : "video/iso.segment");
  if (r.status == 404) return no_recording();
  if (r.status == 416) return r;
  // While it is recorded its playlist grows: asked again each time; once complete it changes no
  // more (but may be hidden or deleted: a minute). Media never change.
  bool complete = v->recording.state == "complete";
  return with_cache(std::move(r), *v,
                    !playlist  ? "max-age=31536000, immutable"
                    : complete ? "max-age=60"
                               : "no-cache");
}

}  // namespace

void register_recordings_routes(Router& router, App& app) {
  router.add("GET", "/api/users/:username/recordings", handler(app, handle_list));
  router.add("PATCH", "/api/me/recordings/:id", authed(app, handle_patch, Scope::kStream));
  router.add("DELETE", "/api/me/recordings/:id", authed(app, handle_delete, Scope::kStream));
  router.add("GET", "/u/:username/sessions/:id/:file", handler(app, handle_file));
}

}  // namespace ds::api
