#include "worker/push_client.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket/error.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <type_traits>
#include <variant>

#include "live/protocol.hpp"
#include "worker/backoff.hpp"
#include "worker/reconnect_rules.hpp"
#include "worker/ws_client.hpp"
#include "worker/ws_url.hpp"

namespace ds::worker {
namespace {

using asio::awaitable;
using asio::redirect_error;
using asio::use_awaitable;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr auto kCloseGrace = std::chrono::seconds(3);
// A connection open this long (or one that got a status message) carried the stream: losing it
// later starts the backoff and the --retry-for window afresh. Shorter ones (a server that takes
// the upgrade and closes with 1013 at once) keep both running, so they cannot spin.
constexpr auto kSteadyAfter = std::chrono::seconds(2);
constexpr auto kMinConnectTimeout = std::chrono::milliseconds(1000);

std::string quoted(std::string s, std::size_t max = 200) {
  if (s.size() > max) s = s.substr(0, max) + "…";
  for (char& c : s) {
    if (c == '"' || c == '\n' || c == '\r') c = '\'';
  }
  return "\"" + s + "\"";
}

// A scalar as a log value: numbers and booleans bare, strings bare when they are one word.
std::string log_value(const json& v) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    bool bare = !s.empty() && s.size() <= 40 && s.find_first_of(" \"=\n\r") == std::string::npos;
    return bare ? s : quoted(s);
  }
  if (v.is_number_float()) return fmt::format("{:.1f}", v.get<double>());
  return v.dump();
}

// One line from a status object, whatever fields the server adds: {"workers":{"busy":1}}
// becomes workers.busy=1.
std::string compact(const json& msg) {
  std::string line;
  for (const auto& [key, value] : msg.items()) {
    if (key == "type") continue;
    if (value.is_object()) {
      for (const auto& [sub, sv] : value.items()) {
        if (sv.is_structured()) continue;
        line += fmt::format(" {}.{}={}", key, sub, log_value(sv));
      }
    } else if (!value.is_array()) {
      line += fmt::format(" {}={}", key, log_value(value));
    }
  }
  return line;
}

}  // namespace

struct PushClient::Impl {
  // One connection to /ws/ingest (or one attempt to make it): its socket, the write in flight
  // on it and what the server said before it ended. A write of a lost connection may still be
  // finishing while the next one starts; only the newest is `line`, and the line's state
  // (line_state) is that one's.
  struct Line {
    explicit Line(asio::any_io_executor ex) : ws(std::move(ex)) {}
    WsClient ws;
    bool writing = false;  // one write in flight on this socket
    bool got_status = false;
    std::string ended_reason;  // from the server's {"type":"ended"}
    std::string ended_message;
  };

  // How a connection ended, and the sentence for the user.
  struct Ending {
    LineEnd end;
    std::string reason;
  };

  Impl(PushOptions o, std::unique_ptr<FrameSource> s)
      : options(std::move(o)),
        source(std::move(s)),
        ticker(ioc),
        idle(ioc),
        state_changed(ioc, Clock::time_point::max()),
        close_timer(ioc),
        retry_timer(ioc),
        rng(std::random_device{}()),
        line_state([this](LineState from, LineState to) { on_line_state(from, to); }) {}

  PushOptions options;
  std::unique_ptr<FrameSource> source;
  asio::io_context ioc;
  WsUrl url;
  asio::steady_timer ticker;
  asio::steady_timer idle;  // cancelled when a writer has nothing left
  // Never expires; cancelled at each move of line_state, so wait_until() sees every one.
  asio::steady_timer state_changed;
  asio::steady_timer close_timer;
  asio::steady_timer retry_timer;  // the wait before the next connect
  std::mt19937_64 rng;
  PushResult result;

  std::shared_ptr<Line> line;  // the current connection or attempt
  // Where the line stands; the moves are made in line_loop (connect, open, lost, backoff,
  // closed) and main (closing), nowhere else.
  LineStateMachine line_state;
  bool ever_open = false;  // a connection of this run was upgraded
  bool stopping = false;   // stop() or a signal
  bool finishing = false;  // the sender is done: connect no more
  // The newest frame not yet in flight: it waits behind the write in flight, or for the next
  // connection; a newer frame replaces it (a local drop), so nothing ever queues up.
  std::optional<std::string> pending;
  std::int64_t started_writes = 0;

  PushResult run() {
    auto parsed = parse_ws_url(options.server, "/ws/ingest");
    if (!parsed) {
      result.exit_code = PushResult::kExitBadUsage;
      result.reason = "--server is not a ws:// or wss:// URL";
      return result;
    }
    url = *parsed;
    if (!(options.fps > 0.0 && options.fps <= 1000.0)) {
      result.exit_code = PushResult::kExitBadUsage;
      result.reason = "--fps must be between 0 and 1000";
      return result;
    }
    std::optional<asio::signal_set> signals;
    if (options.handle_signals) {
      signals.emplace(ioc, SIGINT, SIGTERM);
      signals->async_wait([this](const beast::error_code& ec, int signal) {
        if (ec) return;
        spdlog::info("event=signal signal={} action=stop", signal);
        request_stop();
      });
    }
    std::exception_ptr failure;
    asio::co_spawn(ioc, main(), [this, &failure](std::exception_ptr e) {
      failure = e;
      ioc.stop();
    });
    ioc.run();
    if (failure) std::rethrow_exception(failure);
    result.frames_dropped += source->dropped();
    return result;
  }

  void request_stop() {
    if (stopping) return;
    stopping = true;
    ticker.cancel();
    retry_timer.cancel();
    if (line && line_state.is(LineState::kConnecting)) line->ws.force_close();
  }

  void on_line_state(LineState from, LineState to) {
    spdlog::debug("event=line_state from={} to={}", to_string(from), to_string(to));
    state_changed.cancel();
    if (options.on_line_state) options.on_line_state(from, to);
  }

  // Resumes once done() holds, checked after each move of the line's state.
  awaitable<void> wait_until(std::function<bool()> done) {
    while (!done()) {
      beast::error_code ec;
      co_await state_changed.async_wait(redirect_error(use_awaitable, ec));
    }
  }

  // l is the current connection and open.
  bool is_open(const std::shared_ptr<Line>& l) const {
    return l && l == line && line_state.is(LineState::kOpen);
  }

  awaitable<void> main() {
    asio::co_spawn(ioc, line_loop(), asio::detached);

    // Frames are taken from the first open on (a folder starts at its first frame); later, while
    // the line is down, the sender keeps taking them, so only the newest waits.
    co_await wait_until([this] { return ever_open || line_state.is(LineState::kClosed); });
    if (!line_state.is(LineState::kClosed)) co_await tick_loop();
    finishing = true;
    retry_timer.cancel();

    auto l = line;
    beast::error_code wait_ec;
    if (is_open(l)) {
      // Let the frame in flight (and the one pending behind it) go out, then close.
      auto deadline = Clock::now() + kCloseGrace;
      while (l->writing && is_open(l)) {
        idle.expires_at(deadline);
        co_await idle.async_wait(redirect_error(use_awaitable, wait_ec));
        if (!wait_ec) {
          l->ws.force_close();  // still stuck behind a full socket: give up
          break;
        }
      }
      if (is_open(l) && l->ws.is_open()) {
        line_state.enter(LineState::kClosing);
        close_timer.expires_after(kCloseGrace);
        close_timer.async_wait([l](const beast::error_code& e) {
          if (!e) l->ws.force_close();
        });
        co_await l->ws.close(websocket::close_code::normal, "done");
      }
    } else if (l) {
      l->ws.force_close();  // still connecting
    }
    co_await wait_until([this] { return line_state.is(LineState::kClosed); });
    close_timer.cancel();
    if (pending) {
      ++result.frames_dropped;  // never went out
      pending.reset();
    }
    if (options.final_run) {
      spdlog::info("event=push_done frames_sent={} frames_dropped={} reconnects={} exit_code={}",
                   result.frames_sent, result.frames_dropped + source->dropped(), result.reconnects,
                   result.exit_code);
    } else {
      spdlog::info("event=publish_done frames_sent={} frames_dropped={} reconnects={}",
                   result.frames_sent, result.frames_dropped + source->dropped(),
                   result.reconnects);
    }
  }

  // Connects, reads until the connection ends, and connects again (after a backoff delay) while
  // the end is worth another try and the line has not been down for --retry-for.
  awaitable<void> line_loop() {
    Backoff backoff(options.initial_backoff_ms, options.max_backoff_ms);
    std::uniform_real_distribution<double> jitter(0.0, 1.0);
    RetryRules rules{options.retry_for, options.retry_first_connect};
    std::optional<Clock::time_point> down_since;  // unset while the line is up
    while (!stopping && !finishing) {
      if (line_state.is(LineState::kBackoff)) line_state.enter(LineState::kConnecting);
      auto l = std::make_shared<Line>(ioc.get_executor());
      line = l;
      auto timeout = std::chrono::milliseconds(options.connect_timeout_ms);
      if (down_since) {
        // A reconnect gives up at the end of --retry-for, not a whole connect timeout later.
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            options.retry_for - (Clock::now() - *down_since));
        timeout = std::clamp(left, kMinConnectTimeout, std::max(timeout, kMinConnectTimeout));
      }
      beast::error_code ec =
          co_await l->ws.connect(url, options.key, "dreamstream-push/1", timeout);
      if (stopping || finishing) {
        if (!ec) l->ws.force_close();
        break;
      }
      Ending ending;
      if (ec) {
        ending = connect_failure(*l, ec);
      } else {
        ever_open = true;
        line_state.enter(LineState::kOpen);
        auto opened_at = Clock::now();
        if (down_since) {
          ++result.reconnects;
          spdlog::info("event=reconnected server={} attempt={} down_ms={}", url.display(),
                       backoff.attempts(), ms_since(*down_since));
        } else {
          spdlog::info("event=connected server={} fps={:.1f}", url.display(), options.fps);
        }
        if (pending) {
          // The newest frame taken while the line was down goes first.
          std::string frame = std::move(*pending);
          pending.reset();
          start_write(l, std::move(frame));
        }
        // Returns when the connection has ended; the state moves on below, before anything
        // else runs on this loop.
        ending = co_await read_loop(l);
        if (line_state.is(LineState::kClosing)) break;  // we closed it: the sender is done
        if (l->got_status || Clock::now() - opened_at >= kSteadyAfter) {
          // The stream was live on it: a later loss starts a fresh retry window.
          backoff.reset();
          down_since.reset();
        }
      }
      if (stopping || finishing) break;
      if (!down_since) down_since = Clock::now();
      auto down_for =
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - *down_since);
      AfterEnd next = after_end(ending.end, rules, ever_open, down_for);
      if (next != AfterEnd::kReconnect) {
        end_for_good(ending, next == AfterEnd::kGiveUp);
        break;
      }
      line_state.enter(LineState::kBackoff);
      auto left = options.retry_for - down_for;
      int delay = static_cast<int>(std::min<long long>(backoff.next_delay_ms(jitter(rng)),
                                                       std::max<long long>(left.count(), 0)));
      spdlog::info("event=reconnect_wait delay_ms={} attempt={}", delay, backoff.attempts());
      retry_timer.expires_after(std::chrono::milliseconds(delay));
      beast::error_code wait_ec;
      co_await retry_timer.async_wait(redirect_error(use_awaitable, wait_ec));
    }
    line_state.enter(LineState::kClosed);
  }

  static long long ms_since(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
  }

  Ending connect_failure(const Line& l, const beast::error_code& ec) {
    Ending e;
    int status = l.ws.http_status();
    if (status != 0) {
      e.end = LineEnd{LineEnd::Kind::kRefused, status, {}};
      e.reason = fmt::format("server refused the stream ({}): {}", status, l.ws.rejection());
    } else {
      e.end = LineEnd{LineEnd::Kind::kConnectFailed, 0, {}};
      e.reason = "cannot connect to " + url.display() + ": " + ec.message();
    }
    spdlog::warn("event=connect_failed server={} status={} reason={}", url.display(), status,
                 quoted(e.reason));
    return e;
  }

  // The line is not coming back: run() ends with the reason (exit 1, or 3 for a refusal that
  // was not retried).
  void end_for_good(const Ending& ending, bool gave_up) {
    ticker.cancel();  // tick_loop sees the line closed
    result.close_code = ending.end.code;
    result.reason = ending.reason;
    if (gave_up) {
      result.exit_code = PushResult::kExitClosedByServer;
      result.reason +=
          fmt::format(" (gave up reconnecting after {} s)",
                      std::chrono::duration_cast<std::chrono::seconds>(options.retry_for).count());
    } else if (ending.end.kind == LineEnd::Kind::kRefused) {
      result.exit_code = PushResult::kExitRejected;
    } else {
      result.exit_code = PushResult::kExitClosedByServer;
    }
    spdlog::error("event=stream_closed close_code={} reason={}", result.close_code,
                  quoted(result.reason));
  }

  awaitable<void> tick_loop() {
    auto interval = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(1.0 / options.fps));
    auto next = Clock::now();
    while (!stopping && !line_state.is(LineState::kClosed)) {
      if (options.count > 0 && started_writes >= options.count) break;
      if (auto frame = source->take()) {
        offer(std::move(*frame));
      } else if (source->exhausted()) {
        if (auto why = source->failure(); !why.empty()) {
          result.exit_code = PushResult::kExitInputFailed;
          result.reason = why;
        }
        break;
      }
      next += interval;
      auto now = Clock::now();
      if (next < now - interval) next = now;  // fell far behind (suspended): do not burst
      ticker.expires_at(next);
      beast::error_code ec;
      co_await ticker.async_wait(redirect_error(use_awaitable, ec));
    }
  }

  void offer(std::string frame) {
    auto l = line;
    if (!is_open(l) || l->writing) {
      if (pending) ++result.frames_dropped;  // the older waiting frame is stale now
      pending = std::move(frame);
      return;
    }
    start_write(l, std::move(frame));
  }

  void start_write(const std::shared_ptr<Line>& l, std::string frame) {
    l->writing = true;
    ++started_writes;
    asio::co_spawn(ioc, write_loop(l, std::move(frame)), asio::detached);
  }

  awaitable<void> write_loop(std::shared_ptr<Line> l, std::string frame) {
    for (;;) {
      beast::error_code ec = co_await l->ws.write(frame, true);
      if (ec) break;  // the reader reports why; the pending frame waits for the next connection
      ++result.frames_sent;
      if (!pending || !is_open(l) || (options.count > 0 && started_writes >= options.count)) {
        break;
      }
      frame = std::move(*pending);
      pending.reset();
      ++started_writes;
    }
    l->writing = false;
    idle.cancel();
  }

  awaitable<Ending> read_loop(std::shared_ptr<Line> l) {
    beast::flat_buffer buffer;
    beast::error_code ec;
    for (;;) {
      bool binary = false;
      ec = co_await l->ws.read(buffer, binary);
      if (ec) break;
      if (!binary) on_text(*l, beast::buffers_to_string(buffer.data()));
      buffer.consume(buffer.size());
    }
    Ending e;
    if (line_state.is(LineState::kClosing)) co_return e;
    idle.cancel();
    if (ec == websocket::error::closed) {
      auto reason = l->ws.reason();
      e.end = LineEnd{LineEnd::Kind::kClosed, static_cast<int>(reason.code), l->ended_reason};
      std::string why(reason.reason);
      if (why.empty()) why = l->ended_message;
      if (why.empty()) why = "no reason given";
      if (!l->ended_reason.empty()) why += " [" + l->ended_reason + "]";
      e.reason = fmt::format("server closed the stream ({}): {}", e.end.code, why);
    } else {
      e.end = LineEnd{LineEnd::Kind::kLost, 0, {}};
      e.reason = "connection lost: " + ec.message();
    }
    spdlog::warn("event=line_lost close_code={} reason={}", e.end.code, quoted(e.reason));
    l->ws.force_close();
    co_return e;
  }

  void on_text(Line& l, const std::string& text) {
    auto parsed = live::wire::parse_streamer_text(text);
    if (!parsed) {
      spdlog::warn("event=bad_message bytes={}", text.size());
      return;
    }
    std::visit(
        [&](auto& m) {
          using T = std::decay_t<decltype(m)>;
          if constexpr (std::is_same_v<T, live::wire::StreamStatus>) {
            ++result.status_messages;
            l.got_status = true;
            spdlog::info("event=status{} sent={} local_drops={}", compact(m.fields),
                         result.frames_sent, result.frames_dropped + source->dropped());
          } else if constexpr (std::is_same_v<T, live::wire::StreamEnded>) {
            l.ended_reason = m.reason;
            l.ended_message = m.message;
            spdlog::warn("event=stream_ended{}", compact(m.fields));
          } else if constexpr (std::is_same_v<T, live::wire::StreamError>) {
            spdlog::warn("event=server_error{}", compact(m.fields));
          } else if constexpr (std::is_same_v<T, live::wire::ProcessedFrameNote>) {
            // One per processed frame (for the studio's preview): too many for an info log.
            spdlog::debug("event=processed_frame{}", compact(m.fields));
          } else {
            spdlog::info("event=server_message type={}{}", log_value(json(m.type)),
                         compact(m.fields));
          }
        },
        *parsed);
  }
};

PushClient::PushClient(PushOptions options, std::unique_ptr<FrameSource> source)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(source))) {}

PushClient::~PushClient() = default;

PushResult PushClient::run() { return impl_->run(); }

void PushClient::stop() {
  asio::post(impl_->ioc, [impl = impl_.get()] { impl->request_stop(); });
}

}  // namespace ds::worker
