#include "worker/worker_client.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
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
#include "worker/job_queue.hpp"
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

// What one model call (a job or a batch) came back with: one answer per job, in order.
// Default-constructible for blocking_call.
struct CallOutcome {
  std::vector<Expected<std::string>> outs;
  Timings timings;
};

enum class SessionEnd { kStopped, kFailed, kLost, kTokenRejected };

}  // namespace

struct WorkerClient::Impl {
  // One connection: its socket, outgoing queue and the jobs it holds. Only the newest is
  // `session`, and the line's state (line_state) is that one's; a job that finishes after its
  // session is gone is dropped.
  struct Session {
    Session(asio::any_io_executor ex, int slots) : ws(std::move(ex)), jobs(slots) {}
    WsClient ws;
    std::deque<Outgoing> queue;
    bool writing = false;
    bool registered = false;
    JobQueue jobs;  // held messages, oldest first; one is worked on at a time
  };

  Impl(WorkerOptions o, std::unique_ptr<Backend> b)
      : options(std::move(o)),
        backend(std::move(b)),
        retry_timer(ioc),
        stop_timer(ioc),
        rng(std::random_device{}()),
        line_state([this](LineState from, LineState to) {
          spdlog::debug("event=line_state from={} to={}", to_string(from), to_string(to));
          if (options.on_line_state) options.on_line_state(from, to);
        }) {
    if (options.name.empty()) options.name = asio::ip::host_name();
  }

  WorkerOptions options;
  std::unique_ptr<Backend> backend;
  WsUrl url;
  asio::io_context ioc;
  asio::thread_pool pool{1};  // one model call at a time
  asio::steady_timer retry_timer;
  asio::steady_timer stop_timer;
  std::shared_ptr<Session> session;
  std::mt19937_64 rng;
  // Where the line stands; the moves are made in main_loop (backoff, closed), serve_once
  // (open) and enqueue (closing), nowhere else.
  LineStateMachine line_state;
  bool stopping = false;
  int exit_code = kExitOk;

  mutable std::mutex stats_mutex;
  WorkerStats stats;
  double busy_ms_total = 0;  // in model calls
  double busy_ms_logged = 0;
  Clock::time_point logged_at = Clock::now();

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
    if (line_state.is(LineState::kOpen)) {
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
    spdlog::info("event=worker_start server={} name=\"{}\" backend={} slots={} max_batch={}",
                 url.display(), short_text(options.name), backend->name(), options.slots,
                 options.max_batch);
    while (!stopping) {
      if (line_state.is(LineState::kBackoff)) line_state.enter(LineState::kConnecting);
      SessionEnd end = co_await serve_once();
      if (end == SessionEnd::kStopped || stopping) break;
      if (end == SessionEnd::kTokenRejected) {
        exit_code = kExitTokenRejected;
        break;
      }
      line_state.enter(LineState::kBackoff);
      if (end == SessionEnd::kLost) backoff.reset();
      int delay = backoff.next_delay_ms(jitter(rng));
      spdlog::info("event=reconnect_wait delay_ms={} attempt={}", delay, backoff.attempts());
      retry_timer.expires_after(std::chrono::milliseconds(delay));
      beast::error_code ec;
      co_await retry_timer.async_wait(redirect_error(use_awaitable, ec));
    }
    line_state.enter(LineState::kClosed);
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
    double avg =
        stats.model_calls > 0 ? busy_ms_total / static_cast<double>(stats.model_calls) : 0.0;
    // The share of the time since the last line spent in model calls (finished ones).
    auto now = Clock::now();
    double wall_ms = std::chrono::duration<double, std::milli>(now - logged_at).count();
    double busy_pct = wall_ms > 0 ? 100.0 * (busy_ms_total - busy_ms_logged) / wall_ms : 0.0;
    logged_at = now;
    busy_ms_logged = busy_ms_total;
    spdlog::info(
        "event=worker_stats when={} connects={} jobs_done={} jobs_failed={} jobs_dropped={} "
        "jobs_cancelled={} jobs_refused={} model_calls={} avg_call_ms={:.1f} busy_pct={:.1f}",
        when, stats.connects, stats.jobs_done, stats.jobs_failed, stats.jobs_dropped,
        stats.jobs_cancelled, stats.jobs_refused, stats.model_calls, avg,
        std::min(100.0, busy_pct));
  }

  // --- one connection -------------------------------------------------------------------------

  awaitable<SessionEnd> serve_once() {
    auto s = std::make_shared<Session>(ioc.get_executor(), options.slots);
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
    line_state.enter(LineState::kOpen);
    {
      std::lock_guard lock(stats_mutex);
      ++stats.connects;
    }
    spdlog::info("event=connected server={}", url.display());
    enqueue(s, text(wire::encode_hello(options.name, backend->name(), options.slots,
                                       options.max_batch)));
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
    // The connection has ended: main_loop moves the state on (closed or backoff) when this
    // returns, before anything else runs on this loop; until then it is no longer `session`.
    s->jobs.clear_waiting();  // the server forgets this connection's jobs
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
    if (is_open(s)) enqueue(s, Outgoing{"", false, true});
  }

  // s is the current connection and open (not closing).
  bool is_open(const std::shared_ptr<Session>& s) const {
    return s && s == session && line_state.is(LineState::kOpen);
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
    if (m.slots) fields += fmt::format(" slots={}", *m.slots);
    if (m.max_batch) fields += fmt::format(" max_batch={}", *m.max_batch);
    spdlog::info("event=registered{}", fields);
  }

  void on_server_message(const std::shared_ptr<Session>& s, wire::JobHeader& m) {
    std::vector<wire::JobHeader> jobs;
    jobs.push_back(std::move(m));
    on_header(s, std::move(jobs));
  }

  void on_server_message(const std::shared_ptr<Session>& s, wire::BatchHeader& m) {
    on_header(s, std::move(m.jobs));
  }

  void on_header(const std::shared_ptr<Session>& s, std::vector<wire::JobHeader> jobs) {
    for (const auto& lost : s->jobs.on_header(std::move(jobs))) {
      spdlog::warn("event=job_without_image job_id={}", short_text(job_id_of(lost)));
    }
  }

  void on_server_message(const std::shared_ptr<Session>& s, wire::Cancel& m) {
    std::string job_id = job_id_of(m.job_id);
    if (!s->jobs.cancel(m.job_id)) {
      // Already started or answered: its result (or error) goes out as usual.
      spdlog::debug("event=cancel_ignored job_id={}", short_text(job_id));
      return;
    }
    {
      std::lock_guard lock(stats_mutex);
      ++stats.jobs_cancelled;
    }
    enqueue(s, text(wire::encode_cancelled(m.job_id)));
    spdlog::debug("event=job_cancelled job_id={}", short_text(job_id));
  }

  void on_server_message(const std::shared_ptr<Session>&, wire::ServerError& m) {
    spdlog::warn("event=server_error code=\"{}\" job_id=\"{}\" message=\"{}\"", short_text(m.code),
                 short_text(m.job_id), short_text(m.message));
  }

  void on_server_message(const std::shared_ptr<Session>&, wire::OtherMessage& m) {
    spdlog::debug("event=ignored_message type=\"{}\"", short_text(m.type, 40));
  }

  static std::string job_id_of(const json& job_id) {
    if (job_id.is_null()) return "";
    return job_id.is_string() ? job_id.get<std::string>() : job_id.dump();
  }
  static std::string job_id_of(const wire::JobHeader& header) { return job_id_of(header.job_id); }

  void on_binary(const std::shared_ptr<Session>& s, std::string jpeg) {
    auto size = jpeg.size();
    auto arrival = s->jobs.on_binary(std::move(jpeg));
    using Kind = JobQueue::Arrival::Kind;
    switch (arrival.kind) {
      case Kind::kUnexpected:
        spdlog::warn("event=unexpected_binary bytes={}", size);
        return;
      case Kind::kPartial:
      case Kind::kCancelled:
        return;
      case Kind::kRefused:
        // More than the server may send us: answer rather than hold it.
        {
          std::lock_guard lock(stats_mutex);
          stats.jobs_refused += static_cast<std::int64_t>(arrival.refused.size());
        }
        for (const auto& item : arrival.refused) {
          spdlog::warn("event=job_while_busy job_id={} held={}", short_text(job_id_of(item.header)),
                       s->jobs.held());
          enqueue(s, text(wire::encode_job_error(item.header.job_id, "busy",
                                                 "worker holds as many jobs as it may")));
        }
        return;
      case Kind::kQueued:
        start_next(s);
        return;
    }
  }

  // Starts the oldest held message when the model is free.
  void start_next(const std::shared_ptr<Session>& s) {
    if (!is_open(s)) return;
    if (auto message = s->jobs.start_next()) {
      asio::co_spawn(ioc, handle_message(s, std::move(*message)), asio::detached);
    }
  }

  // One job, or one batch in one model call; then each job is answered on its own.
  awaitable<void> handle_message(std::shared_ptr<Session> s, std::vector<JobQueue::Item> items) {
    std::vector<wire::JobHeader> headers;
    std::vector<std::string> jpegs;
    std::vector<JobParams> params;
    for (auto& item : items) {
      params.push_back(params_from_json(item.header.params));
      headers.push_back(std::move(item.header));
      jpegs.push_back(std::move(item.jpeg));
    }
    auto started = Clock::now();
    auto work = [backend = backend.get(), jpegs = std::move(jpegs), params]() {
      CallOutcome o;
      std::string failure = "the model call failed";
      try {
        if (jpegs.size() == 1) {
          o.outs.push_back(backend->process_timed(jpegs.front(), params.front(), o.timings));
        } else {
          std::vector<BatchItem> batch;
          for (std::size_t i = 0; i < jpegs.size(); ++i) batch.push_back({jpegs[i], &params[i]});
          o.outs = backend->process_batch(batch, o.timings);
        }
      } catch (const std::exception& e) {
        o.outs.clear();
        failure = e.what();
      }
      if (o.outs.size() != jpegs.size()) {
        // A throwing (or miscounting) backend fails the whole call.
        o.outs.assign(jpegs.size(), Error{ErrorKind::kInternal, "backend_failed", failure});
      }
      return o;
    };
    CallOutcome outcome = co_await blocking_call(pool, ioc.get_executor(), std::move(work));
    double total_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
    s->jobs.finish();
    {
      std::lock_guard lock(stats_mutex);
      ++stats.model_calls;
      busy_ms_total += total_ms;
    }
    if (!is_open(s)) {
      std::lock_guard lock(stats_mutex);
      stats.jobs_dropped += static_cast<std::int64_t>(headers.size());
      for (const auto& header : headers) {
        spdlog::info("event=job_dropped job_id={} reason=disconnected",
                     short_text(job_id_of(header)));
      }
      co_return;
    }
    const auto& t = outcome.timings;
    wire::ResultTimings timings{t.decode_ms, t.infer_ms, t.encode_ms,
                                static_cast<int>(headers.size())};
    // Counted before the answers go out, so whoever reads an answer sees it counted.
    auto ok = std::count_if(outcome.outs.begin(), outcome.outs.end(),
                            [](const auto& out) { return out.ok(); });
    std::int64_t answered = 0;
    {
      std::lock_guard lock(stats_mutex);
      stats.jobs_done += ok;
      stats.jobs_failed += static_cast<std::int64_t>(headers.size()) - ok;
      answered = stats.jobs_done + stats.jobs_failed;
    }
    for (std::size_t i = 0; i < headers.size(); ++i) {
      const auto& header = headers[i];
      auto& out = outcome.outs[i];
      std::string job_id = job_id_of(header);
      if (out) {
        enqueue(s, text(wire::encode_result(header.job_id, timings)));
        enqueue(s, Outgoing{std::move(*out), true, false});
        spdlog::debug("event=job_done job_id={} stream={} seq={} look={} batch={} total_ms={:.1f}",
                      short_text(job_id), short_text(header.stream),
                      header.seq ? std::to_string(*header.seq) : "null",
                      look_name(look_for_prompt(params[i].prompt)), headers.size(), total_ms);
      } else {
        enqueue(s,
                text(wire::encode_job_error(header.job_id, out.error().code, out.error().message)));
        spdlog::warn("event=job_failed job_id={} code={} error=\"{}\"", short_text(job_id),
                     out.error().code, short_text(out.error().message));
      }
    }
    if (options.max_jobs > 0 && answered >= options.max_jobs) {
      spdlog::info("event=max_jobs_reached jobs={}", answered);
      request_stop();
      co_return;
    }
    start_next(s);
  }

  // --- writing --------------------------------------------------------------------------------

  static Outgoing text(const live::Bytes& message) { return Outgoing{*message, false, false}; }

  void enqueue(const std::shared_ptr<Session>& s, Outgoing out) {
    if (!is_open(s)) return;  // closing, or the connection is gone
    if (out.close) line_state.enter(LineState::kClosing);
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
