#include "cli/serve.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/system/system_error.hpp>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "api/app.hpp"
#include "api/forward.hpp"
#include "auth/crypto.hpp"
#include "cluster/redis_bus.hpp"
#include "cluster/redis_counters.hpp"
#include "domain/client_address.hpp"
#include "live/chat_service.hpp"
#include "live/hub.hpp"
#include "live/recorder.hpp"
#include "live/settings_service.hpp"
#include "live/stream_service.hpp"
#include "live/style_service.hpp"
#include "live/video_hub.hpp"
#include "live/worker_token_watch.hpp"
#include "net/live_endpoints.hpp"
#include "net/server.hpp"
#include "payments/credit_history.hpp"
#include "payments/payment_service.hpp"
#include "store/database.hpp"
#include "store/migrations.hpp"
#include "worker/av_source.hpp"
#include "worker/in_process_worker.hpp"
#include "worker/thumbnail.hpp"

namespace ds::cli {

bool parse_listen(const std::string& listen, std::string& host, unsigned short& port) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 >= listen.size()) return false;
  host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) return false;
  try {
    auto p = std::stoul(listen.substr(colon + 1));
    if (p > 65535) return false;
    port = static_cast<unsigned short>(p);
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

void add_serve_command(CLI::App& app, ServeConfig& c) {
  auto* cmd =
      app.add_subcommand("serve", "Run the web server (embedded defaults: SQLite, CPU worker)");
  cmd->add_option("--listen", c.listen, "HOST:PORT to listen on")
      ->envname("DREAMSTREAM_LISTEN")
      ->capture_default_str();
  cmd->add_option("--data", c.data_dir, "Data directory")
      ->envname("DREAMSTREAM_DATA")
      ->capture_default_str();
  cmd->add_option("--db", c.db_url, "Database URL (sqlite://PATH or postgres://...)")
      ->envname("DREAMSTREAM_DB");
  cmd->add_option("--redis", c.redis_url,
                  "Redis URL (redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]) shared by every node "
                  "of a cluster; needs a postgres:// --db and --cluster-secret")
      ->envname("DREAMSTREAM_REDIS");
  cmd->add_option("--cluster-secret", c.cluster_secret,
                  "With --redis: a secret of at least 16 characters, the same on every node, that "
                  "encrypts and authenticates every message between nodes (prefer the "
                  "environment variable: argv is visible to other local users)")
      ->envname("DREAMSTREAM_CLUSTER_SECRET");
  cmd->add_option("--node-id", c.node_id, "This node's name in the cluster (default: random)")
      ->envname("DREAMSTREAM_NODE_ID");
  cmd->add_option("--public-url", c.public_url, "Public base URL, e.g. https://stream.example")
      ->envname("DREAMSTREAM_PUBLIC_URL");
  cmd->add_option("--allowed-origin", c.allowed_origins,
                  "Another origin allowed to call the API with credentials (repeatable)")
      ->envname("DREAMSTREAM_ALLOWED_ORIGINS")
      ->delimiter(',');
  cmd->add_option("--embed-ancestors", c.embed_ancestors,
                  "Sites that may frame /u/<name>/embed: a CSP frame-ancestors list, e.g. "
                  "\"https://a.example https://b.example\" ('none': no site; every other page "
                  "always refuses frames)")
      ->envname("DREAMSTREAM_EMBED_ANCESTORS")
      ->capture_default_str();
  cmd->add_option("--web-dir", c.web_dir, "Serve web assets from this directory (development)")
      ->envname("DREAMSTREAM_WEB_DIR");
  cmd->add_option("--port-file", c.port_file, "Write the bound port to this file")
      ->envname("DREAMSTREAM_PORT_FILE");
  cmd->add_option("--min-credits", c.min_credits, "Smallest credit purchase")
      ->envname("DREAMSTREAM_MIN_CREDITS")
      ->capture_default_str();
  cmd->add_option("--max-credits", c.max_credits, "Largest credit purchase")
      ->envname("DREAMSTREAM_MAX_CREDITS")
      ->capture_default_str();
  cmd->add_option("--default-credits", c.default_credits, "Credits preselected in the buy dialog")
      ->envname("DREAMSTREAM_DEFAULT_CREDITS")
      ->capture_default_str();
  cmd->add_option("--video", c.video,
                  "H.264 for viewers who ask for it (/ws/watch/NAME?video=h264): h264 or off")
      ->envname("DREAMSTREAM_VIDEO")
      ->check(CLI::IsMember({"h264", "off"}))
      ->capture_default_str();
  cmd->add_option("--video-crf", c.video_crf,
                  "Video quality, x264 CRF (0-51, lower is better and bigger)")
      ->envname("DREAMSTREAM_VIDEO_CRF")
      ->check(CLI::Range(0, 51))
      ->capture_default_str();
  cmd->add_option("--video-max-kbps", c.video_max_kbps,
                  "Video bitrate cap per stream in kbit/s (0: no cap)")
      ->envname("DREAMSTREAM_VIDEO_MAX_KBPS")
      ->check(CLI::Range(0, 100'000))
      ->capture_default_str();
  cmd->add_option("--video-threads", c.video_threads,
                  "Encoder threads for all of the node's streams (their CPU bound)")
      ->envname("DREAMSTREAM_VIDEO_THREADS")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--video-profile", c.video_profile,
                  "H.264 profile: high (fewer bytes) or baseline (constrained baseline: every "
                  "decoder)")
      ->envname("DREAMSTREAM_VIDEO_PROFILE")
      ->check(CLI::IsMember({"high", "baseline"}))
      ->capture_default_str();
  cmd->add_option("--hls", c.hls,
                  "Live HLS with low-latency parts at /u/NAME/live.m3u8 (needs --video h264): on "
                  "or off")
      ->envname("DREAMSTREAM_HLS")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  cmd->add_option("--hls-part-ms", c.hls_part_ms,
                  "HLS part target in ms (a low-latency player stays about 3 parts behind)")
      ->envname("DREAMSTREAM_HLS_PART_MS")
      ->check(CLI::Range(100, 2000))
      ->capture_default_str();
  cmd->add_option("--media-dir", c.media_dir,
                  "Where recordings are kept (default: DATA/media); share it between nodes for "
                  "every node to serve every recording")
      ->envname("DREAMSTREAM_MEDIA_DIR");
  cmd->add_option("--recording-days", c.recording_days,
                  "Complete recordings older than this many days are deleted (0: at the next "
                  "sweep)")
      ->envname("DREAMSTREAM_RECORDING_DAYS")
      ->check(CLI::Range(0, 36500))
      ->capture_default_str();
  cmd->add_option("--recording-quota-mb", c.recording_quota_mb,
                  "Recordings kept per account, in MiB: the oldest go first; a recording that "
                  "passes it stops")
      ->envname("DREAMSTREAM_RECORDING_QUOTA_MB")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  cmd->add_option("--recording-sweep-s", c.recording_sweep_s,
                  "Seconds between two sweeps of the recordings (retention, quota)")
      ->envname("DREAMSTREAM_RECORDING_SWEEP_S")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  cmd->add_option("--builtin-workers", c.builtin_workers, "In-process CPU model workers")
      ->envname("DREAMSTREAM_BUILTIN_WORKERS")
      ->capture_default_str();
  cmd->add_option("--builtin-simulate-ms", c.builtin_simulate_ms,
                  "Extra model-like latency per frame for built-in workers")
      ->envname("DREAMSTREAM_BUILTIN_SIMULATE_MS")
      ->capture_default_str();
  cmd->add_option("--worker-token", c.worker_tokens,
                  "A token /ws/worker accepts besides those made with admin (repeatable)")
      ->envname("DREAMSTREAM_WORKER_TOKENS")
      ->delimiter(',');
  cmd->add_option("--max-frame-bytes", c.max_frame_bytes, "Largest accepted camera frame")
      ->envname("DREAMSTREAM_MAX_FRAME_BYTES")
      ->capture_default_str();
  cmd->add_option("--max-frame-dimension", c.max_frame_dimension,
                  "Largest accepted frame width or height")
      ->envname("DREAMSTREAM_MAX_FRAME_DIMENSION")
      ->capture_default_str();
  cmd->add_option("--job-timeout-ms", c.job_timeout_ms, "A worker holding a job longer loses it")
      ->envname("DREAMSTREAM_JOB_TIMEOUT_MS")
      ->capture_default_str();
  cmd->add_option("--skip-similar", c.skip_similar,
                  "Skip a camera frame when less than this share (0..1) of its 32x24 grey "
                  "thumbnail changed since the last frame processed (0: process every frame)")
      ->envname("DREAMSTREAM_SKIP_SIMILAR")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--skip-max-ms", c.skip_max_ms,
                  "Process a frame at least this often, however unchanged (with --skip-similar)")
      ->envname("DREAMSTREAM_SKIP_MAX_MS")
      ->check(CLI::Range(0LL, 3'600'000LL))
      ->capture_default_str();
  cmd->add_option("--grace-ms", c.grace_ms,
                  "A live stream whose line dropped (no frame, no goodbye) this long ends as "
                  "interrupted")
      ->envname("DREAMSTREAM_GRACE_MS")
      ->capture_default_str();
  cmd->add_option("--credits-per-hour", c.credits_per_hour, "Streaming price")
      ->envname("DREAMSTREAM_CREDITS_PER_HOUR")
      ->capture_default_str();
  cmd->add_option("--min-start-cents", c.min_start_cents,
                  "Balance needed to start a stream, in credit-cents")
      ->envname("DREAMSTREAM_MIN_START_CENTS")
      ->capture_default_str();
  cmd->add_option("--comment-limit", c.comment_limit,
                  "Comments one user may post per --comment-window-ms")
      ->envname("DREAMSTREAM_COMMENT_LIMIT")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  cmd->add_option("--comment-window-ms", c.comment_window_ms, "Window of the comment rate limit")
      ->envname("DREAMSTREAM_COMMENT_WINDOW_MS")
      ->check(CLI::Range(1LL, 86'400'000LL))
      ->capture_default_str();
  cmd->add_option("--style-limit", c.style_limit,
                  "Style requests one user may make per --style-window-ms")
      ->envname("DREAMSTREAM_STYLE_LIMIT")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  cmd->add_option("--style-window-ms", c.style_window_ms, "Window of the style-request rate limit")
      ->envname("DREAMSTREAM_STYLE_WINDOW_MS")
      ->check(CLI::Range(1LL, 86'400'000LL))
      ->capture_default_str();
  cmd->add_option("--max-connections", c.max_connections,
                  "Open connections at most (0: from the descriptor limit, raised to its maximum)")
      ->envname("DREAMSTREAM_MAX_CONNECTIONS")
      ->capture_default_str();
  cmd->add_option("--max-connections-per-address", c.max_connections_per_address,
                  "Open connections at most from one client address (0: no limit)")
      ->envname("DREAMSTREAM_MAX_CONNECTIONS_PER_ADDRESS")
      ->capture_default_str();
  cmd->add_option("--idle-timeout-ms", c.idle_timeout_ms,
                  "A WebSocket peer silent this long (pinged at half) is dropped; also the MJPEG "
                  "write timeout")
      ->envname("DREAMSTREAM_IDLE_TIMEOUT_MS")
      ->check(CLI::Range(1'000LL, 3'600'000LL))
      ->capture_default_str();
  cmd->add_option(
         "--io-threads", c.io_threads,
         "Threads that run the sockets (0: one per CPU the process may run on, at least 2)")
      ->envname("DREAMSTREAM_IO_THREADS")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  cmd->add_option("--trusted-proxy", c.trusted_proxies,
                  "A reverse proxy (CIDR, e.g. 127.0.0.1/32) whose X-Forwarded-For names the "
                  "client (repeatable)")
      ->envname("DREAMSTREAM_TRUSTED_PROXIES")
      ->delimiter(',');
  cmd->add_option("--signup-credits", c.signup_credits,
                  "Credits a new account starts with (0: none)")
      ->envname("DREAMSTREAM_SIGNUP_CREDITS")
      ->check(CLI::Range(0LL, 1'000'000LL))
      ->capture_default_str();
  cmd->add_option("--register-limit", c.register_limit,
                  "New accounts per client address (IPv6: per /64) per --register-window-ms")
      ->envname("DREAMSTREAM_REGISTER_LIMIT")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  cmd->add_option("--register-window-ms", c.register_window_ms, "Window of the registration limit")
      ->envname("DREAMSTREAM_REGISTER_WINDOW_MS")
      ->check(CLI::Range(1LL, 86'400'000LL * 30))
      ->capture_default_str();
  cmd->add_option("--metrics-token", c.metrics_token,
                  "Bearer token GET /metrics requires (default: no token, loopback scrapers only)")
      ->envname("DREAMSTREAM_METRICS_TOKEN");
}

namespace {

// Stripe settings come from the environment (secrets stay out of argv and shell history).
std::unique_ptr<payments::PaymentService> make_payment_service(const ServeConfig& c,
                                                               store::Database& db,
                                                               const Clock& clock) {
  payments::PaymentsConfig config;
  payments::read_stripe_env(config);
  config.public_url = c.public_url;
  config.min_credits = c.min_credits;
  config.max_credits = c.max_credits;
  config.default_credits = c.default_credits;
  if (config.min_credits < 1 || config.max_credits < config.min_credits ||
      config.default_credits < config.min_credits || config.default_credits > config.max_credits) {
    spdlog::error("event=bad_option option=--min-credits/--max-credits/--default-credits");
    return nullptr;
  }
  std::unique_ptr<payments::StripeClient> stripe;
  if (!config.secret_key.empty()) {
    payments::init_http_client();
    stripe = payments::make_http_stripe_client({config.api_base, config.secret_key});
  }
  spdlog::info("event=payments_config enabled={} webhook_secret={} api_base={}", stripe != nullptr,
               config.webhook_secret.empty() ? "missing" : "set", config.api_base);
  return std::make_unique<payments::PaymentService>(db, clock, std::move(config),
                                                    std::move(stripe));
}

// Frames are tens to hundreds of KiB and come and go at the frame rate (ingest, jobs, results).
// With glibc's defaults each one freed at the top of the heap gives the memory back (trim at
// 128 KiB) and the next one faults it in again, page by page: ~1500 page faults a second at
// 10 fps in the fan-out bench, where Node's relay has none. Keeping up to 64 MiB of freed heap
// and serving blocks up to 8 MiB from it (not from mmap) ends that; the memory stays reusable.
// A start-up failure: one line on stderr that says what is wrong, and exit 1.
int start_failed(const std::string& message) {
  std::fprintf(stderr, "dreamstream serve: %s\n", message.c_str());
  return 1;
}

std::string one_line(std::string s) {
  for (char& ch : s) {
    if (ch == '\n' || ch == '\r') ch = ' ';
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// Why dir cannot hold the database (created when missing), or nullopt when it can.
std::optional<std::string> unwritable_directory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ec.message();
  if (!std::filesystem::is_directory(dir, ec)) return std::string("not a directory");
  if (::access(dir.c_str(), W_OK | X_OK) != 0) return std::string(std::strerror(errno));
  return std::nullopt;
}

void tune_malloc() {
  mallopt(M_MMAP_THRESHOLD, 8 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  mallopt(M_TOP_PAD, 1 << 20);
}

}  // namespace

int run_serve(const ServeConfig& c) {
  tune_malloc();
  auth::init_crypto();
  std::string host;
  unsigned short port = 0;
  if (!parse_listen(c.listen, host, port)) {
    spdlog::error("event=bad_option option=--listen value={}", c.listen);
    return 2;
  }
  std::string db_url = c.db_url.empty() ? "sqlite://" + c.data_dir + "/dreamstream.db" : c.db_url;
  if (c.db_url.empty()) {
    // The embedded database lives there: say so now rather than fail at the first write.
    if (auto why = unwritable_directory(c.data_dir)) {
      return start_failed(
          fmt::format("cannot write the data directory {}: {} (choose another "
                      "with --data DIR)",
                      c.data_dir, *why));
    }
  } else {
    std::error_code ignored;
    std::filesystem::create_directories(c.data_dir, ignored);
  }

  std::optional<cluster::RedisAddress> redis;
  if (!c.redis_url.empty()) {
    redis = cluster::parse_redis_url(c.redis_url);
    if (!redis) {
      // Not the value: it may hold a password.
      spdlog::error(
          "event=bad_option option=--redis reason=\"expected "
          "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] (percent-encode ':', '@' and '%' in the "
          "user and password)\"");
      return 2;
    }
    if (auto why = cluster::Seal::weak_secret(c.cluster_secret)) {
      spdlog::error("event=bad_option option=--cluster-secret reason=\"{}\"", *why);
      return 2;
    }
    if (!db_url.starts_with("postgres")) {
      // Every node must see the same accounts, sessions and ledger.
      spdlog::error("event=bad_option option=--redis reason=\"many nodes need --db postgres://\"");
      return 2;
    }
  }

  std::unique_ptr<store::Database> db;
  int version = 0;
  try {
    db = store::Database::open(db_url, 8);
    version = store::migrate(*db);
  } catch (const std::exception& e) {
    return start_failed(fmt::format("cannot open the database {}: {}", store::redact_url(db_url),
                                    store::redact_password(one_line(e.what()), db_url)));
  }
  spdlog::info("event=database_ready dialect={} schema={}",
               db->dialect() == store::Dialect::kSqlite ? "sqlite" : "postgres", version);

  std::vector<domain::Cidr> trusted_proxies;
  for (const auto& text : c.trusted_proxies) {
    auto cidr = domain::parse_cidr(text);
    if (!cidr) {
      spdlog::error("event=bad_option option=--trusted-proxy value=\"{}\"", text);
      return 2;
    }
    trusted_proxies.push_back(*cidr);
  }

  if (!net::valid_frame_ancestors(c.embed_ancestors)) {
    spdlog::error("event=bad_option option=--embed-ancestors value=\"{}\"", c.embed_ancestors);
    return 2;
  }

  SystemClock clock;
  auth::AuthConfig auth_config;
  auth_config.signup_bonus_cents = c.signup_credits * domain::kCentsPerCredit;
  auth_config.max_registrations_per_address = c.register_limit;
  auth_config.registration_window_ms = c.register_window_ms;
  auth::AuthService auth(*db, clock, auth_config);
  api::ApiConfig api_config;
  api_config.public_url = c.public_url;
  api_config.allowed_origins = c.allowed_origins;
  for (auto& o : api_config.allowed_origins) {
    while (!o.empty() && o.back() == '/') o.pop_back();
  }
  api_config.rate.cents_per_hour = c.credits_per_hour * domain::kCentsPerCredit;
  api_config.signup_bonus_cents = auth_config.signup_bonus_cents;
  api_config.metrics_token = c.metrics_token;
  payments::CreditHistory credits(*db);
  api::App app{auth, credits, clock, api_config};
  app.database_available = [&db] { return db->available(); };
  auto payments = make_payment_service(c, *db, clock);
  if (!payments) return 2;
  app.payments = payments.get();

  // Declared before the video hub, which hands it units until it is gone.
  std::unique_ptr<live::HlsStore> hls;
  // Declared before the hub, which hands it pictures until the hub is gone.
  std::unique_ptr<live::VideoHub> video;
  if (c.video == "h264") {
    live::VideoHubConfig vc;
    vc.encoder.crf = c.video_crf;
    vc.encoder.max_kbps = c.video_max_kbps;
    vc.encoder.profile = c.video_profile == "baseline" ? video::H264Profile::kConstrainedBaseline
                                                       : video::H264Profile::kHigh;
    vc.threads = c.video_threads;
    if (auto ok = video::check_settings(vc.encoder); !ok) {
      spdlog::error("event=bad_option option=--video reason=\"{}\"", ok.error().message);
      return 2;
    }
    // libx264's lines ("profile High, level 3.0", warnings) into the log, not onto stderr.
    worker::route_libav_logs();
    video = std::make_unique<live::VideoHub>(vc);
    if (c.hls == "on") {
      live::HlsStoreConfig hc;
      hc.media.part_target_ms = c.hls_part_ms;
      hls = std::make_unique<live::HlsStore>(clock, hc);
      video->set_hls(hls.get());
      app.video = video.get();
      app.hls = hls.get();
      app.hls_target_duration_s = hc.media.target_duration_s;
    }
  }
  live::HubConfig hub_config;
  hub_config.job_timeout_ms = c.job_timeout_ms;
  hub_config.skip_similar = c.skip_similar;
  hub_config.skip_max_ms = c.skip_max_ms;
  hub_config.thumbnail = worker::make_thumbnail;
  live::Hub hub(clock, hub_config);
  hub.set_picture_tap(video.get());
  // Many nodes: calls from other nodes run on their own small pool, never on Redis's threads.
  boost::asio::thread_pool call_pool(4);
  std::unique_ptr<cluster::RedisBus> bus;
  if (redis) {
    cluster::RedisBusConfig bc;
    bc.address = *redis;
    bc.secret = c.cluster_secret;
    bc.node_id = c.node_id.empty() ? auth::random_token("n").substr(0, 13) : c.node_id;
    // A dead node's streams are noticed within the grace period.
    bc.node_ttl_ms = std::clamp<long long>(c.grace_ms / 2, 1'000, 10'000);
    bc.executor = [&call_pool](std::function<void()> fn) {
      boost::asio::post(call_pool, std::move(fn));
    };
    bus = std::make_unique<cluster::RedisBus>(bc, clock);
    hub.set_cluster(bus.get());
    spdlog::info("event=cluster_node node={} redis={}", bc.node_id, cluster::address_text(*redis));
  }
  live::StreamServiceConfig stream_config;
  stream_config.rate = api_config.rate;
  stream_config.min_start_cents = c.min_start_cents;
  stream_config.grace_ms = c.grace_ms;
  live::StreamService streams(*db, hub, clock, stream_config);
  streams.set_cluster(bus.get());
  streams.recover();
  live::ChatService chat(*db, hub, clock, {c.comment_limit, c.comment_window_ms});
  live::StyleServiceConfig style_config;
  style_config.max_requests = c.style_limit;
  style_config.window_ms = c.style_window_ms;
  live::StyleService styles(*db, hub, clock, style_config);
  styles.set_cluster(bus.get());
  if (!bus) styles.recover();
  // Style queues follow the streams' lifecycle: made on open, ended on end, and taken along
  // on a move (the new home reads them back). Chat keeps nothing per stream: it asks the hub.
  streams.subscribe([&styles](const live::StreamEvent& e) { styles.on_stream_event(e); });
  live::SettingsService settings(*db, hub, styles);
  // Recordings: written by each stream's home into its media directory.
  std::string media_dir = c.media_dir.empty() ? c.data_dir + "/media" : c.media_dir;
  if (auto why = unwritable_directory(media_dir)) {
    return start_failed(
        fmt::format("cannot write the media directory {}: {} (choose another with --media-dir DIR)",
                    media_dir, *why));
  }
  live::RecorderConfig recorder_config;
  recorder_config.media_dir = media_dir;
  recorder_config.rules.keep_ms = static_cast<std::int64_t>(c.recording_days) * 86'400'000;
  recorder_config.rules.quota_bytes =
      static_cast<std::int64_t>(std::llround(c.recording_quota_mb * 1024 * 1024));
  recorder_config.sweep_every_ms = static_cast<std::int64_t>(c.recording_sweep_s) * 1000;
  live::Recorder recorder(clock, *db, hub, video.get(), recorder_config);
  if (video) video->set_recorder(&recorder);
  recorder.recover();  // recordings a stopped node left open, now that their streams are closed
  settings.on_record_switch(
      [&recorder](const store::User& u, bool on) { recorder.set_record(u, on); });
  app.recordings = &recorder;
  // Many nodes: one allowance per client across the cluster, not one per node.
  std::unique_ptr<cluster::RedisCounters> shared_counters;
  if (bus) {
    shared_counters = std::make_unique<cluster::RedisCounters>(bus->link());
    auth.share_limits(*shared_counters);
    chat.share_limits(*shared_counters);
    styles.share_limits(*shared_counters);
    payments->share_limits(*shared_counters);
  }
  app.hub = &hub;
  app.streams = &streams;
  app.settings = &settings;
  app.cluster = bus.get();
  app.chat = &chat;
  app.styles = &styles;
  app.frame_limits = {c.max_frame_bytes, c.max_frame_dimension};
  live::CredentialWatch credentials;
  app.credentials = &credentials;
  live::WorkerTokenWatch worker_token_watch;  // outlives the server's sockets
  api::Router router;
  api::register_routes(router, app);

  net::ServerOptions options;
  options.host = host;
  options.port = port;
  options.max_body_bytes = c.max_body_bytes;
  options.max_connections = c.max_connections;
  options.max_connections_per_address = c.max_connections_per_address;
  options.idle_timeout = std::chrono::milliseconds(c.idle_timeout_ms);
  options.io_threads = c.io_threads;
  options.trusted_proxies = trusted_proxies;
  options.hsts = c.public_url.starts_with("https://");
  options.embed_ancestors = c.embed_ancestors;
  net::Server server(options, router, app, net::StaticAssets(c.web_dir));
  server.set_body_limit("/api/ingest/frame", c.max_frame_bytes + 1);
  net::register_live_endpoints(
      server, app, hub, streams, credentials,
      {app.frame_limits, c.worker_tokens, 10, &worker_token_watch, video.get()});
  // Bound before any thread starts, so a taken address is one clear line and exit 1, not an
  // abort with threads left running.
  unsigned short bound = 0;
  try {
    bound = server.start();
  } catch (const boost::system::system_error& e) {
    auto address = host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port)
                                                       : host + ":" + std::to_string(port);
    if (e.code() == boost::asio::error::address_in_use) {
      return start_failed(
          fmt::format("cannot listen on {}: address in use (another server is "
                      "running there?): choose another with --listen HOST:PORT",
                      address));
    }
    return start_failed(fmt::format("cannot listen on {}: {}", address, e.code().message()));
  }
  if (bus) {
    // Every call (and broadcast) another node can make of this one.
    auto answer = [&](const live::Call& call, live::CallOp op) -> live::Call {
      switch (op) {
        case live::CallOp::kHttp:
          break;  // below: it may answer later
        case live::CallOp::kRevoke:
          return api::serve_revocation(app, call);
        case live::CallOp::kRelease: {
          auto r = streams.release(call.header.value("session_id", 0LL));
          return {r ? *r : nlohmann::json{{"ok", false}}, {}};
        }
        case live::CallOp::kStylesState: {
          auto user = auth.find_user_by_username(call.header.value("username", ""));
          if (!user) return {{{"error", "not_found"}}, {}};
          return {{{"state", styles.state(*user)}}, {}};
        }
      }
      return {{{"error", "unknown op"}}, {}};
    };
    bus->serve_calls_async([&, answer](const live::Call& call, live::Cluster::Respond respond) {
      auto op = live::call_op(call);
      if (!op) return respond({{{"error", "unknown op"}}, {}});
      if (*op == live::CallOp::kHttp) return api::serve_forwarded(router, app, call, respond);
      respond(answer(call, *op));
    });
    bus->start();
  }

  std::vector<std::shared_ptr<worker::InProcessWorker>> builtin;
  for (int i = 0; i < c.builtin_workers; ++i) {
    builtin.push_back(std::make_shared<worker::InProcessWorker>(
        hub, worker::make_cpu_backend(c.builtin_simulate_ms), "builtin-" + std::to_string(i + 1)));
    builtin.back()->start();
  }

  // Hub ticks (deadlines, states, status) and billing ticks run off the io threads, on two
  // threads: a database that makes billing wait (an outage) never delays the live path.
  std::atomic<bool> ticking{true};
  auto every_250ms = [&ticking](auto tick) {
    return std::thread([&ticking, tick] {
      while (ticking) {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        try {
          tick();
        } catch (const std::exception& e) {
          spdlog::error("event=tick_failed error=\"{}\"", e.what());
        }
      }
    });
  };
  int recorder_ticks = 0;  // only the ticker thread touches it
  std::thread ticker = every_250ms([&] {
    hub.tick();
    if (++recorder_ticks % 4 == 0) recorder.tick();  // sessions begun, left, and the sweeps
    if (hls) {
      video->tick(clock.now_ms());
      hls->tick();  // blocking HLS requests past their deadline are answered here
    }
  });
  // Worker tokens revoked from another process (`admin worker-token revoke`) end their
  // sockets within kWorkerTokenRecheckTicks × 250 ms.
  constexpr int kWorkerTokenRecheckTicks = 8;
  // Live ingest credentials are asked about again every 5 s: an expired login session, or a
  // revocation whose announcement this node missed (Redis or the revoking node away), ends the
  // socket and its stream even so.
  constexpr int kIngestRecheckTicks = 20;
  int biller_ticks = 0;  // only the biller thread touches it
  std::thread biller = every_250ms([&] {
    streams.tick();
    styles.tick();
    ++biller_ticks;
    if (biller_ticks % kWorkerTokenRecheckTicks == 0) {
      worker_token_watch.recheck(
          [&auth](const std::vector<long long>& ids) { return auth.revoked_worker_tokens(ids); });
    }
    if (biller_ticks % kIngestRecheckTicks == 0) {
      api::stop_revoked_streams(app, credentials.recheck([&auth](const live::IngestGrant& g) {
        return auth.ingest_credential_valid(g);
      }));
    }
  });
  server.on_shutdown([&] {
    ticking = false;
    streams.shutdown();
  });

  if (c.public_url.empty()) {
    bool v6 = host.find(':') != std::string::npos;
    payments->set_public_url("http://" + (v6 ? "[" + host + "]" : host) + ":" +
                             std::to_string(bound));
  }
  spdlog::info("event=listening address={} port={} max_connections={} per_address={}", host, bound,
               server.options().max_connections, c.max_connections_per_address);
  if (!c.port_file.empty()) {
    std::ofstream(c.port_file + ".tmp") << bound << "\n";
    std::filesystem::rename(c.port_file + ".tmp", c.port_file);
  }
  server.run();
  ticking = false;
  ticker.join();
  biller.join();
  // The streams ended (billing finalised above): their recordings are closed and written.
  recorder.shutdown();
  for (auto& w : builtin) w->stop();
  if (bus) bus->stop();
  call_pool.join();
  // The hub outlives the server (declared first); the connections it holds must not.
  hub.release_peers();
  if (video) video->release_peers();
  if (hls) hls->release_waiters();
  spdlog::info("event=exit open_connections={}", server.limits()->open());
  return 0;
}

}  // namespace ds::cli
