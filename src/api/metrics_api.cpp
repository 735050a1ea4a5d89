// GET /metrics: live figures in the Prometheus text format (aggregates only, no names).
#include <string>

#include "api/app.hpp"
#include "auth/crypto.hpp"
#include "domain/client_address.hpp"
#include "live/cluster.hpp"
#include "live/recorder.hpp"

namespace ds::api {

namespace {

void metric(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

template <class T>
void sample(std::string& out, const char* name, const char* labels, T value) {
  out += name;
  out += labels;
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

// A token, when configured, is the only way in. Without one, only a scraper on this host
// (loopback, and no forwarding header: a local reverse proxy passing on an outsider's request
// would otherwise look local).
Expected<Ok> metrics_access(const App& app, const Request& req) {
  const auto& token = app.config.metrics_token;
  if (!token.empty()) {
    auto presented = req.bearer_token();
    if (presented && auth::constant_time_equal(*presented, token)) return Ok{};
    return unauthorized("a valid metrics token is required");
  }
  bool forwarded =
      req.header("x-forwarded-for") || req.header("forwarded") || req.header("x-real-ip");
  if (domain::is_loopback(req.remote_addr) && !forwarded) return Ok{};
  return forbidden("metrics are served to this host only; set --metrics-token to scrape remotely");
}

Response handle_metrics(App& app, Request& req) {
  if (auto ok = metrics_access(app, req); !ok) {
    Response r = error_response(ok.error());
    if (ok.error().kind == ErrorKind::kUnauthorized) r.set_header("WWW-Authenticate", "Bearer");
    return r;
  }
  int live = 0, waiting = 0, viewers = 0;
  for (const auto& s : app.hub->snapshots()) {
    (s.state == live::StreamState::kLive ? live : waiting)++;
    viewers += s.viewers;
  }
  auto workers = app.hub->worker_counts();
  auto t = app.hub->totals();
  std::string out;
  metric(out, "dreamstream_streams", "gauge", "Open streams by state.");
  sample(out, "dreamstream_streams", "{state=\"live\"}", live);
  sample(out, "dreamstream_streams", "{state=\"waiting\"}", waiting);
  metric(out, "dreamstream_viewers", "gauge", "Viewers of open streams (WebSocket and MJPEG).");
  sample(out, "dreamstream_viewers", "", viewers);
  metric(out, "dreamstream_workers", "gauge", "Connected model workers by state.");
  sample(out, "dreamstream_workers", "{state=\"busy\"}", workers.busy);
  sample(out, "dreamstream_workers", "{state=\"idle\"}", workers.total - workers.busy);
  const struct {
    const char* name;
    const char* help;
    std::uint64_t value;
  } counters[] = {
      {"dreamstream_frames_received_total", "Camera frames accepted.", t.frames_in},
      {"dreamstream_frames_dropped_total",
       "Camera frames replaced by a newer one before a worker took them.", t.frames_dropped},
      {"dreamstream_frames_skipped_total",
       "Camera frames not processed: unchanged since the last one handed to the model.",
       t.frames_skipped},
      {"dreamstream_jobs_sent_total", "Jobs handed to workers.", t.jobs_sent},
      {"dreamstream_frames_shown_total", "Processed frames sent to viewers.", t.frames_shown},
      {"dreamstream_results_stale_total", "Results dropped for being older than one shown.",
       t.results_stale},
      {"dreamstream_jobs_failed_total", "Jobs a worker reported as failed.", t.jobs_failed},
      {"dreamstream_jobs_timed_out_total", "Jobs abandoned past their deadline.", t.jobs_timed_out},
      {"dreamstream_jobs_cancelled_total",
       "Jobs superseded by a newer frame while they waited at a worker.", t.jobs_cancelled},
  };
  for (const auto& c : counters) {
    metric(out, c.name, "counter", c.help);
    sample(out, c.name, "", c.value);
  }
  if (app.cluster) {
    auto s = app.cluster->stats();
    metric(out, "dreamstream_cluster_healthy", "gauge",
           "1 while both Redis connections are up (many nodes).");
    sample(out, "dreamstream_cluster_healthy", "", app.cluster->healthy() ? 1 : 0);
    const struct {
      const char* name;
      const char* help;
      std::uint64_t value;
    } redis[] = {
        {"dreamstream_redis_commands_total", "Commands sent to Redis.", s.commands},
        {"dreamstream_redis_sent_bytes_total", "Bytes sent to Redis.", s.bytes_sent},
        {"dreamstream_redis_messages_total", "Pub/sub messages received.", s.messages},
        {"dreamstream_redis_received_bytes_total", "Pub/sub payload bytes received.",
         s.bytes_received},
        {"dreamstream_cluster_calls_expired_total",
         "Calls from other nodes dropped unrun: past the deadline their caller set.",
         s.calls_expired},
        {"dreamstream_remote_picture_fetches_total",
         "Pictures of streams homed elsewhere fetched from their home (latest.jpg).",
         app.remote_pictures->fetches()},
    };
    for (const auto& c : redis) {
      metric(out, c.name, "counter", c.help);
      sample(out, c.name, "", c.value);
    }
    const char* dropped = "dreamstream_cluster_messages_dropped_total";
    metric(out, dropped, "counter",
           "Node messages dropped unread: forged (not sealed with the cluster secret for where "
           "they were found), stale (sealed over 10 s away from now) or replayed.");
    sample(out, dropped, "{reason=\"forged\"}", s.dropped_forged);
    sample(out, dropped, "{reason=\"stale\"}", s.dropped_stale);
    sample(out, dropped, "{reason=\"replayed\"}", s.dropped_replayed);
  }
  if (app.video) {
    metric(
        out, "dreamstream_video_encoders", "gauge",
        "H.264 encoders running on this node (streams with a video viewer, HLS or a recording).");
    sample(out, "dreamstream_video_encoders", "", app.video->encoders());
  }
  if (app.hls) {
    metric(out, "dreamstream_hls_streams", "gauge",
           "Streams with live HLS media (or requests waiting for it) on this node.");
    sample(out, "dreamstream_hls_streams", "", app.hls->streams());
    metric(out, "dreamstream_hls_bytes", "gauge", "Bytes of HLS segments and parts held.");
    sample(out, "dreamstream_hls_bytes", "", app.hls->bytes());
    metric(out, "dreamstream_hls_waiting_requests", "gauge",
           "HLS requests waiting for a part (blocking playlist reloads, preload hints).");
    sample(out, "dreamstream_hls_waiting_requests", "", app.hls->waiting());
    auto relay = app.hls_relay->stats();
    metric(out, "dreamstream_hls_relay_fetches_total", "counter",
           "HLS requests for streams homed elsewhere passed to their home.");
    sample(out, "dreamstream_hls_relay_fetches_total", "", relay.fetches);
    metric(out, "dreamstream_hls_relay_hits_total", "counter",
           "HLS requests for streams homed elsewhere answered from what this node kept.");
    sample(out, "dreamstream_hls_relay_hits_total", "", relay.hits);
    metric(out, "dreamstream_hls_relay_shared_total", "counter",
           "HLS requests for streams homed elsewhere that joined a request under way.");
    sample(out, "dreamstream_hls_relay_shared_total", "", relay.shared);
    metric(out, "dreamstream_hls_relay_bytes", "gauge",
           "Bytes of HLS answers kept for streams homed elsewhere.");
    sample(out, "dreamstream_hls_relay_bytes", "", relay.bytes);
  }
  if (app.recordings) {
    metric(out, "dreamstream_recordings_active", "gauge",
           "Stream sessions being recorded on this node.");
    sample(out, "dreamstream_recordings_active", "", app.recordings->active());
    metric(out, "dreamstream_recording_jobs_queued", "gauge",
           "Recording writes (and sweeps) waiting for the recorder's thread.");
    sample(out, "dreamstream_recording_jobs_queued", "", app.recordings->queued());
  }
  Response r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = std::move(out);
  r.set_header("Cache-Control", "no-store");
  return r;
}

}  // namespace

void register_metrics_routes(Router& router, App& app) {
  router.add("GET", "/metrics", handler(app, handle_metrics));
}

}  // namespace ds::api
