#include "worker/worker_client.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/host_name.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket/error.hpp>
#include <chrono>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <variant>

#include "live/protocol.hpp"
#include "worker/backoff.hpp"
#include "worker/blocking_call.hpp"
#include "worker/looks.hpp"
#include "worker/ws_client.hpp"
#include "worker/ws_url.hpp"

namespace ds::worker {
namespace {

using asio::awaitable;
using asio::redirect_error;
using asio::use_awaitable;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr auto kStatsEvery = std::chrono::seconds(10);
constexpr auto kCloseGrace = std::chrono::seconds(2);
namespace wire = live::wire;

std::string short_text(std::string s, std::size_t max = 200) {
  if (s.size() > max) s = s.substr(0, max) + "…";
  for (char& c : s) {
    if (c == '"' || c == '\n' || c == '\r') c = '\'';
  }
  return s;
}

struct Outgoing {
  std::string data;
  bool binary = false;
  bool close = false;
};

// What one process() call came back with; default-constructible for blocking_call.
struct JobOutcome {
  bool ok = false;
  std::string jpeg;
  Error error;
  Timings timings;
};

enum class SessionEnd { kStopped, kFailed, kLost, kTokenRejected };

}  // namespace

struct WorkerClient::Impl {
  // One connection: its socket, outgoing queue and the job it is working on.
  struct Session {
    explicit Session(asio::any_io_executor ex) : ws(std::move(ex)) {}
    WsClient ws;
    std::deque<Outgoing> queue;
    bool writing = false;
    bool open = false;     // upgraded, not yet closed
    bool closing = false;  // a close frame is queued; send nothing more
    bool busy = false;     // a job is being processed
    bool registered = false;
    std::optional<wire::JobHeader> pending_job;  // a job header waiting for its JPEG
  };

  Impl(WorkerOptions o, std::unique_ptr<Backend> b)
      : options(std::move(o)),
        backend(std::move(b)),
        retry_timer(ioc),
        stop_timer(ioc),
        rng(std::random_device{}()) {
    if (options.name.empty()) options.name = asio::ip::host_name();
  }

  WorkerOptions options;
  std::unique_ptr<Backend> backend;
  WsUrl url;
  asio::io_context ioc;
  asio::thread_pool pool{1};  // one job at a time
  asio::steady_timer retry_timer;
  asio::steady_timer stop_timer;
  std::shared_ptr<Session> session;
  std::mt19937_64 rng;
  bool stopping = false;
  int exit_code = kExitOk;

  mutable std::mutex stats_mutex;
  WorkerStats stats;
  double busy_ms_total = 0;

  // --- lifecycle ------------------------------------------------------------------------------

  int run() {
    auto parsed = parse_ws_url(options.server, "/ws/worker");
    if (!parsed) {
      spdlog::error("event=bad_option option=--server error=\"not a ws:// or wss:// URL\"");
      return kExitBadUrl;
    }
    url = *parsed;
    std::optional<asio::signal_set> signals;
    if (options.handle_signals) {
      signals.emplace(ioc, SIGINT, SIGTERM);
      signals->async_wait([this](const beast::error_code& ec, int signal) {
        if (ec) return;
        spdlog::info("event=signal signal={} action=stop", signal);
        request_stop();
      });
    }
    asio::co_spawn(ioc, stats_loop(), asio::detached);
    std::exception_ptr failure;
    asio::co_spawn(ioc, main_loop(), [this, &failure](std::exception_ptr e) {
      failure = e;
      ioc.stop();
    });
    ioc.run();
    pool.join();  // a job still running finishes; its result is dropped
    ioc.restart();
    ioc.poll();  // lets that job's completion run, so stats count it
    if (failure) std::rethrow_exception(failure);
    log_stats("final");
    return exit_code;
  }

  void stop() {
    asio::post(ioc, [this] { request_stop(); });
  }

  void request_stop() {
    if (stopping) return;
    stopping = true;
    retry_timer.cancel();
    auto s = session;
    if (!s) return;
    if (s->open) {
      enqueue(s, Outgoing{"", false, true});
      // A server that does not answer the close frame is cut off.
      stop_timer.expires_after(kCloseGrace);
      stop_timer.async_wait([s](const beast::error_code& ec) {
        if (!ec) s->ws.force_close();
      });
    } else {
      s->ws.force_close();  // still connecting
    }
  }

  awaitable<void> main_loop() {
    Backoff backoff(options.initial_backoff_ms, options.max_backoff_ms);
    std::uniform_real_distribution<double> jitter(0.0, 1.0);
    spdlog::info("event=worker_start server={} name=\"{}\" backend={}", url.display(),
                 short_text(options.name), backend->name());
    while (!stopping) {
      SessionEnd end = co_await serve_once();
      if (end == SessionEnd::kStopped || stopping) break;
      if (end == SessionEnd::kTokenRejected) {
        exit_code = kExitTokenRejected;
        break;
      }
      if (end == SessionEnd::kLost) backoff.reset();
      int delay = backoff.next_delay_ms(jitter(rng));
      spdlog::info("event=reconnect_wait delay_ms={} attempt={}", delay, backoff.attempts());
      retry_timer.expires_after(std::chrono::milliseconds(delay));
      beast::error_code ec;
      co_await retry_timer.async_wait(redirect_error(use_awaitable, ec));
    }
    stop_timer.cancel();
    spdlog::info("event=worker_stop exit_code={}", exit_code);
  }

  awaitable<void> stats_loop() {
    asio::steady_timer timer(ioc);
    WorkerStats last;
    for (;;) {
      timer.expires_after(kStatsEvery);
      beast::error_code ec;
      co_await timer.async_wait(redirect_error(use_awaitable, ec));
      if (ec) co_return;
      WorkerStats now = snapshot();
      if (now.jobs_done != last.jobs_done || now.jobs_failed != last.jobs_failed) {
        log_stats("periodic");
      }
      last = now;
    }
  }

  WorkerStats snapshot() const {
    std::lock_guard lock(stats_mutex);
    return stats;
  }

  void log_stats(std::string_view when) {
    std::lock_guard lock(stats_mutex);
    double avg = stats.jobs_done > 0 ? busy_ms_total / static_cast<double>(stats.jobs_done) : 0.0;
    spdlog::info(
        "event=worker_stats when={} connects={} jobs_done={} jobs_failed={} "
        "jobs_dropped={} avg_job_ms={:.1f}",
        when, stats.connects, stats.jobs_done, stats.jobs_failed, stats.jobs_dropped, avg);
  }

  // --- one connection -------------------------------------------------------------------------

  awaitable<SessionEnd> serve_once() {
    auto s = std::make_shared<Session>(ioc.get_executor());
    session = s;
    beast::error_code ec =
        co_await s->ws.connect(url, options.token, "dreamstream-worker/1",
                               std::chrono::milliseconds(options.connect_timeout_ms));
    if (ec) {
      session.reset();
      if (stopping) co_return SessionEnd::kStopped;
      int status = s->ws.http_status();
      if (status == 401 || status == 403) {
        spdlog::error("event=token_rejected server={} status={} message=\"{}\"", url.display(),
                      status, short_text(s->ws.rejection()));
        co_return SessionEnd::kTokenRejected;
      }
      spdlog::warn("event=connect_failed server={} status={} error=\"{}\"", url.display(), status,
                   short_text(status ? s->ws.rejection() : ec.message()));
      co_return SessionEnd::kFailed;
    }
    s->open = true;
    {
      std::lock_guard lock(stats_mutex);
      ++stats.connects;
    }
    spdlog::info("event=connected server={}", url.display());
    enqueue(s, text(wire::encode_hello(options.name, backend->name())));
    if (stopping) request_stop_session(s);

    beast::flat_buffer buffer;
    for (;;) {
      bool binary = false;
      ec = co_await s->ws.read(buffer, binary);
      if (ec) break;
      std::string message = beast::buffers_to_string(buffer.data());
      buffer.consume(buffer.size());
      if (binary) {
        on_binary(s, std::move(message));
      } else {
        on_text(s, message);
      }
    }
    s->open = false;
    s->pending_job.reset();
    session.reset();

    if (ec == websocket::error::closed) {
      auto reason = s->ws.reason();
      spdlog::log(stopping ? spdlog::level::info : spdlog::level::warn,
                  "event=disconnected server={} close_code={} reason=\"{}\"", url.display(),
                  static_cast<int>(reason.code), short_text(std::string(reason.reason)));
      if (reason.code == wire::code_value(wire::CloseCode::kUnauthorized)) {
        co_return SessionEnd::kTokenRejected;
      }
    } else {
      spdlog::log(stopping ? spdlog::level::info : spdlog::level::warn,
                  "event=disconnected server={} error=\"{}\"", url.display(), ec.message());
    }
    if (stopping) co_return SessionEnd::kStopped;
    co_return s->registered ? SessionEnd::kLost : SessionEnd::kFailed;
  }

  void request_stop_session(const std::shared_ptr<Session>& s) {
    if (s->open && !s->closing) enqueue(s, Outgoing{"", false, true});
  }

  void on_text(const std::shared_ptr<Session>& s, const std::string& message) {
    auto parsed = wire::parse_server_text(message);
    if (!parsed) {
      spdlog::warn("event=bad_message error=\"{}\" bytes={}", parsed.error().message,
                   message.size());
      return;
    }
    std::visit([&](auto& m) { on_server_message(s, m); }, *parsed);
  }

  void on_server_message(const std::shared_ptr<Session>& s, wire::Welcome& m) {
    s->registered = true;
    std::string fields;
    if (m.worker_id) {
      fields += fmt::format(" worker_id={}", short_text(json(*m.worker_id).dump(), 60));
    }
    if (m.job_timeout_ms) fields += fmt::format(" job_timeout_ms={}", *m.job_timeout_ms);
    spdlog::info("event=registered{}", fields);
  }

  void on_server_message(const std::shared_ptr<Session>& s, wire::JobHeader& m) {
    if (s->pending_job) {
      spdlog::warn("event=job_without_image job_id={}", job_id_of(*s->pending_job));
    }
    s->pending_job = std::move(m);
  }

  void on_server_message(const std::shared_ptr<Session>&, wire::ServerError& m) {
    spdlog::warn("event=server_error code=\"{}\" job_id=\"{}\" message=\"{}\"", short_text(m.code),
                 short_text(m.job_id), short_text(m.message));
  }

  void on_server_message(const std::shared_ptr<Session>&, wire::OtherMessage& m) {
    spdlog::debug("event=ignored_message type=\"{}\"", short_text(m.type, 40));
  }

  static std::string job_id_of(const wire::JobHeader& header) {
    if (header.job_id.is_null()) return "";
    return header.job_id.is_string() ? header.job_id.get<std::string>() : header.job_id.dump();
  }

  void on_binary(const std::shared_ptr<Session>& s, std::string jpeg) {
    if (!s->pending_job) {
      spdlog::warn("event=unexpected_binary bytes={}", jpeg.size());
      return;
    }
    wire::JobHeader header = std::move(*s->pending_job);
    s->pending_job.reset();
    if (s->busy) {
      // The server owes us one job at a time; answer rather than queue.
      spdlog::warn("event=job_while_busy job_id={}", short_text(job_id_of(header)));
      enqueue(s, text(wire::encode_job_error(header.job_id, "busy",
                                             "worker is busy with another job")));
      return;
    }
    s->busy = true;
    asio::co_spawn(ioc, handle_job(s, std::move(header), std::move(jpeg)), asio::detached);
  }

  awaitable<void> handle_job(std::shared_ptr<Session> s, wire::JobHeader header, std::string jpeg) {
    JobParams params = params_from_json(header.params);
    auto started = Clock::now();
    auto work = [backend = backend.get(), jpeg = std::move(jpeg), params]() {
      JobOutcome o;
      try {
        auto out = backend->process_timed(jpeg, params, o.timings);
        if (out) {
          o.ok = true;
          o.jpeg = std::move(*out);
        } else {
          o.error = out.error();
        }
      } catch (const std::exception& e) {
        o.error = Error{ErrorKind::kInternal, "backend_failed", e.what()};
      }
      return o;
    };
    JobOutcome outcome = co_await blocking_call(pool, ioc.get_executor(), std::move(work));
    double total_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
    s->busy = false;
    std::string job_id = job_id_of(header);
    if (!s->open || s->closing) {
      std::lock_guard lock(stats_mutex);
      ++stats.jobs_dropped;
      spdlog::info("event=job_dropped job_id={} reason=disconnected", short_text(job_id));
      co_return;
    }
    if (outcome.ok) {
      const auto& t = outcome.timings;
      enqueue(s, text(wire::encode_result(header.job_id, {t.decode_ms, t.infer_ms, t.encode_ms})));
      enqueue(s, Outgoing{std::move(outcome.jpeg), true, false});
      spdlog::debug("event=job_done job_id={} stream={} seq={} look={} total_ms={:.1f}",
                    short_text(job_id), short_text(header.stream),
                    header.seq ? std::to_string(*header.seq) : "null",
                    look_name(look_for_prompt(params.prompt)), total_ms);
    } else {
      enqueue(s, text(wire::encode_job_error(header.job_id, outcome.error.code,
                                             outcome.error.message)));
      spdlog::warn("event=job_failed job_id={} code={} error=\"{}\"", short_text(job_id),
                   outcome.error.code, short_text(outcome.error.message));
    }
    std::int64_t answered = 0;
    {
      std::lock_guard lock(stats_mutex);
      if (outcome.ok) {
        ++stats.jobs_done;
        busy_ms_total += total_ms;
      } else {
        ++stats.jobs_failed;
      }
      answered = stats.jobs_done + stats.jobs_failed;
    }
    if (options.max_jobs > 0 && answered >= options.max_jobs) {
      spdlog::info("event=max_jobs_reached jobs={}", answered);
      request_stop();
    }
  }

  // --- writing --------------------------------------------------------------------------------

  static Outgoing text(const live::Bytes& message) { return Outgoing{*message, false, false}; }

  void enqueue(const std::shared_ptr<Session>& s, Outgoing out) {
    if (s->closing) return;
    if (out.close) s->closing = true;
    s->queue.push_back(std::move(out));
    if (!s->writing) {
      s->writing = true;
      asio::co_spawn(ioc, flush(s), asio::detached);
    }
  }

  // The only writer of a session: one write in flight, messages in order (a result's header is
  // always directly followed by its JPEG).
  awaitable<void> flush(std::shared_ptr<Session> s) {
    while (!s->queue.empty()) {
      Outgoing out = std::move(s->queue.front());
      s->queue.pop_front();
      beast::error_code ec;
      if (out.close) {
        ec = co_await s->ws.close(websocket::close_code::normal, "worker stopping");
      } else {
        ec = co_await s->ws.write(out.data, out.binary);
      }
      if (ec) {
        // The read loop sees the same failure and ends the session.
        s->queue.clear();
        break;
      }
    }
    s->writing = false;
  }
};

WorkerClient::WorkerClient(WorkerOptions options, std::unique_ptr<Backend> backend)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(backend))) {}

WorkerClient::~WorkerClient() = default;

int WorkerClient::run() { return impl_->run(); }

void WorkerClient::stop() { impl_->stop(); }

WorkerStats WorkerClient::stats() const { return impl_->snapshot(); }

}  // namespace ds::worker
