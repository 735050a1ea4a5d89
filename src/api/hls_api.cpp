// Live HLS (docs/api.md#hls): a stream's low-latency playlist and its media, public GETs any
// player or CDN may fetch. A blocking playlist reload (_HLS_msn, _HLS_part) or a preload-hinted
// part that is not there yet is answered later (Response::deferred) by the HlsStore's waker: no
// thread waits for it.
#include <spdlog/spdlog.h>

#include <charconv>

#include "api/app.hpp"
#include "api/forward.hpp"
#include "domain/username.hpp"

namespace ds::api {

namespace {

using live::HlsStore;

constexpr const char* kImmutable = "public, max-age=31536000, immutable";

Response with_hls_headers(Response r, const char* cache) {
  // Public media: a player on any site may fetch it (nothing here reads a cookie).
  r.set_header("Access-Control-Allow-Origin", "*");
  r.set_header("Cache-Control", cache);
  return r;
}

Response hls_error(int status, std::string_view code, std::string_view message) {
  return with_hls_headers(error_response(status, code, message), "no-store");
}

Response offline() { return hls_error(404, "stream_offline", "this stream is not live"); }

// How long a request may wait: three target durations (RFC 8216bis asks a server to answer a
// blocking reload within three).
std::int64_t wait_ms(const App& app) { return 3 * app.hls_target_duration_s * 1000; }

// Many nodes: the stream's home encodes and serves its HLS; this node passes the request
// there (a call nothing waits on, docs/architecture.md#hls) and keeps the answer for the other
// players here who ask for the same URL. query: the request's query as the home reads it (only
// _HLS_msn and _HLS_part, in that order), so that added parameters neither reach the home nor
// make a URI of their own here.
std::optional<Response> elsewhere(App& app, const Request& req, const std::string& name,
                                  std::string query = {}) {
  if (!app.cluster || req.forwarded) return std::nullopt;
  auto home = app.hub->home_of(name);
  if (!home) return std::nullopt;
  Response r;
  Request passed = req;
  passed.query = std::move(query);
  auto call = encode_request(passed, std::nullopt);
  // Keyed by the home too: a stream that moved home numbers its media afresh there, and what
  // the old home answered for a URI must not stand for the new one's.
  auto key = *home + " " + passed.path + (passed.query.empty() ? "" : "?" + passed.query);
  auto timeout = std::chrono::milliseconds(wait_ms(app) + 2000);
  r.deferred = [&app, call = std::move(call), key = std::move(key), home = *home, timeout,
                address = req.remote_addr](Response::Reply reply, Response::Gone) {
    auto fetch = [&app, call, home, timeout, address](HlsRelay::Done done) {
      // Only what is not kept here costs the home a call: at most 50 a second per client.
      if (!app.forward_limit->allow(address)) {
        return done(hls_error(429, "rate_limited", "too many requests to another server"));
      }
      app.cluster->call_async(home, call, timeout, [done](std::optional<live::Call> c) {
        auto answer = c ? decode_response(*c) : std::nullopt;
        // The home's CORS header stays there (decode_response); HLS is public everywhere.
        if (answer) answer->set_header("Access-Control-Allow-Origin", "*");
        done(std::move(answer));
      });
    };
    app.hls_relay->get(key, fetch, [reply](Response&& answer) {
      if (!answer.has_header("Access-Control-Allow-Origin")) {
        answer.set_header("Access-Control-Allow-Origin", "*");
      }
      reply(std::move(answer));
    });
  };
  return r;
}

Response not_ready() {
  auto r = hls_error(503, "hls_not_ready", "what was asked for did not come in time; ask again");
  r.set_header("Retry-After", "1");
  return r;
}

// 0 to 18 decimal digits only.
std::optional<std::int64_t> parse_number(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

Response playlist_response(const HlsStore::Playlist& p, bool blocking) {
  Response r;
  r.content_type = "application/vnd.apple.mpegurl";
  r.body = p.text;
  // An ended playlist changes no more; a blocking reload's answer (its URL names the part it
  // waited for) stays right for a few seconds, so a CDN collapses the many asking for the
  // same part into one request; a plain reload is fresh for a second.
  const char* cache = p.ended    ? "public, max-age=30"
                      : blocking ? "public, max-age=6"
                                 : "public, max-age=1";
  return with_hls_headers(std::move(r), cache);
}

Response answer_playlist(App& app, const std::string& name, bool ready, bool blocking) {
  if (!ready) return not_ready();
  auto p = app.hls->playlist(name);
  if (!p) return offline();
  return playlist_response(*p, blocking);
}

// Answers `until` now or when the store wakes it, through reply; a client that leaves
// meanwhile gives its place up.
Response deferred(App& app, const Request& req, std::string name, HlsStore::Until until,
                  std::function<Response(bool ready)> answer) {
  Response r;
  r.deferred = [&app, address = req.remote_addr, name = std::move(name), until, answer](
                   Response::Reply reply, Response::Gone gone) {
    auto deadline = app.clock.now_ms() + wait_ms(app);
    auto wake = [reply, answer](bool ready) { reply(answer(ready)); };
    switch (app.hls->wait(name, until, deadline, wake, {address, std::move(gone)})) {
      case HlsStore::Wait::kWaiting:
        return;
      case HlsStore::Wait::kReady:
      case HlsStore::Wait::kGone:
        return reply(answer(true));
      case HlsStore::Wait::kTooFar:
        return reply(
            hls_error(400, "invalid_query", "_HLS_msn is more than two segments past the newest"));
      case HlsStore::Wait::kBusy: {
        auto busy = hls_error(503, "too_many_waiting",
                              "too many requests wait on this stream (or from this address)");
        busy.set_header("Retry-After", "1");
        return reply(std::move(busy));
      }
    }
  };
  return r;
}

Response handle_playlist(App& app, Request& req) {
  auto name = domain::canonical_username(req.params["username"]);
  if (!name) return hls_error(404, "not_found", "no such stream");
  auto msn_text = req.query_param("_HLS_msn");
  auto part_text = req.query_param("_HLS_part");
  std::optional<std::int64_t> msn, part;
  if (msn_text && !(msn = parse_number(*msn_text))) {
    return hls_error(400, "invalid_query", "_HLS_msn must be a media sequence number");
  }
  if (part_text && !(part = parse_number(*part_text))) {
    return hls_error(400, "invalid_query", "_HLS_part must be a part index");
  }
  if (part && !msn) return hls_error(400, "invalid_query", "_HLS_part needs _HLS_msn");

  auto live = app.hub->snapshot(*name);
  auto current = app.hls->playlist(*name);
  if (live && current && current->session_id != live->session_id) current.reset();  // old one
  if (live) {
    app.video->watch_hls(*name, app.clock.now_ms());
  } else if (!current || !current->ended) {
    std::string query;
    if (msn) query = "_HLS_msn=" + std::to_string(*msn);
    if (part) query += "&_HLS_part=" + std::to_string(*part);
    if (auto r = elsewhere(app, req, *name, std::move(query))) return std::move(*r);
    return offline();
  }
  bool blocking = msn.has_value();
  if (!blocking && current) return playlist_response(*current, false);

  HlsStore::Until until;
  until.session_id = current ? current->session_id : live ? live->session_id : 0;
  if (blocking) {
    until.kind = part ? HlsStore::Until::Kind::kPart : HlsStore::Until::Kind::kSegment;
    until.msn = *msn;
    until.part = part ? static_cast<int>(std::min<std::int64_t>(*part, 1'000'000)) : 0;
  }
  // Not blocking, but no segment yet (the encoder has just started): wait for the first.
  return deferred(app, req, *name, until, [&app, name = *name, blocking](bool ready) {
    return answer_playlist(app, name, ready, blocking);
  });
}

Response media_response(std::shared_ptr<const std::string> bytes, bool init) {
  Response r;
  r.content_type = init ? "video/mp4" : "video/iso.segment";
  r.body = *bytes;
  return with_hls_headers(std::move(r), kImmutable);
}

Response no_media() {
  return hls_error(404, "not_found", "no such segment here (it may have left the window)");
}

Response handle_media(App& app, Request& req) {
  auto name = domain::canonical_username(req.params["username"]);
  auto session = parse_positive_id(req.params["session"]);
  const std::string& file = req.params["file"];
  if (!name || !session) return no_media();
  HlsStore::Media kind;
  std::int64_t msn = 0;
  std::int64_t part = 0;
  if (file.starts_with("init-") && file.ends_with(".mp4")) {
    kind = HlsStore::Media::kInit;
    auto n = parse_number(std::string_view(file).substr(5, file.size() - 9));
    if (!n) return no_media();
    msn = *n;
  } else if (file.ends_with(".m4s")) {
    std::string_view stem(file.data(), file.size() - 4);
    auto dot = stem.find('.');
    auto n = parse_number(stem.substr(0, dot));
    if (!n) return no_media();
    msn = *n;
    kind = HlsStore::Media::kSegment;
    if (dot != std::string_view::npos) {
      auto p = parse_number(stem.substr(dot + 1));
      if (!p || *p > 1000) return no_media();
      part = *p;
      kind = HlsStore::Media::kPart;
    }
  } else {
    return no_media();
  }
  bool init = kind == HlsStore::Media::kInit;
  if (auto bytes = app.hls->media(*name, *session, kind, msn, static_cast<int>(part))) {
    return media_response(bytes, init);
  }
  if (auto r = elsewhere(app, req, *name)) return std::move(*r);
  if (kind != HlsStore::Media::kPart) return no_media();
  // A part named by the preload hint is asked for before it exists: it is sent when it does.
  HlsStore::Until until{HlsStore::Until::Kind::kPart, *session, msn, static_cast<int>(part)};
  return deferred(
      app, req, *name, until, [&app, name = *name, s = *session, msn, part](bool ready) {
        if (!ready) return not_ready();
        auto bytes = app.hls->media(name, s, HlsStore::Media::kPart, msn, static_cast<int>(part));
        return bytes ? media_response(bytes, false) : no_media();
      });
}

}  // namespace

void register_hls_routes(Router& router, App& app) {
  router.add("GET", "/u/:username/live.m3u8", handler(app, handle_playlist));
  router.add("GET", "/u/:username/hls/:session/:file", handler(app, handle_media));
}

}  // namespace ds::api
