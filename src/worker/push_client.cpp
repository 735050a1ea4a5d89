#include "worker/push_client.hpp"

#include <spdlog/spdlog.h>

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
  Impl(PushOptions o, std::unique_ptr<FrameSource> s)
      : options(std::move(o)),
        source(std::move(s)),
        ws(ioc.get_executor()),
        ticker(ioc),
        idle(ioc),
        reader_done(ioc),
        close_timer(ioc) {}

  PushOptions options;
  std::unique_ptr<FrameSource> source;
  asio::io_context ioc;
  WsClient ws;
  asio::steady_timer ticker;
  asio::steady_timer idle;         // cancelled when the writer has nothing left
  asio::steady_timer reader_done;  // cancelled when the reader has finished
  asio::steady_timer close_timer;
  PushResult result;

  bool open = false;
  bool stopping = false;       // stop() or a signal
  bool closing = false;        // we sent (or are sending) the close frame
  bool server_closed = false;  // the read side ended without our close
  bool writing = false;
  bool reader_running = false;
  std::optional<std::string> pending;  // at most one frame waits behind the one in flight
  std::int64_t started_writes = 0;
  std::string ended_reason;  // from the server's {"type":"ended"}
  std::string ended_message;

  PushResult run() {
    auto url = parse_ws_url(options.server, "/ws/ingest");
    if (!url) {
      result.exit_code = PushResult::kExitBadUsage;
      result.reason = "--server is not a ws:// or wss:// URL";
      return result;
    }
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
    asio::co_spawn(ioc, main(*url), [this, &failure](std::exception_ptr e) {
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
    if (!open) ws.force_close();  // still connecting
  }

  awaitable<void> main(WsUrl url) {
    beast::error_code ec =
        co_await ws.connect(url, options.key, "dreamstream-push/1",
                            std::chrono::milliseconds(options.connect_timeout_ms));
    if (ec) {
      if (stopping) co_return;
      result.close_code = ws.http_status();
      if (result.close_code != 0) {
        result.exit_code = PushResult::kExitRejected;
        result.reason =
            fmt::format("server refused the stream ({}): {}", result.close_code, ws.rejection());
      } else {
        result.exit_code = PushResult::kExitClosedByServer;
        result.reason = "cannot connect to " + url.display() + ": " + ec.message();
      }
      spdlog::error("event=connect_failed server={} status={} reason={}", url.display(),
                    result.close_code, quoted(result.reason));
      co_return;
    }
    open = true;
    spdlog::info("event=connected server={} fps={:.1f}", url.display(), options.fps);
    reader_running = true;
    reader_done.expires_at(Clock::time_point::max());
    asio::co_spawn(ioc, read_loop(), asio::detached);

    co_await tick_loop();

    // Let the frame in flight (and the one pending behind it) go out, then close.
    beast::error_code wait_ec;
    if (writing && !server_closed) {
      idle.expires_after(kCloseGrace);
      co_await idle.async_wait(redirect_error(use_awaitable, wait_ec));
      if (!wait_ec) ws.force_close();  // still stuck behind a full socket: give up
    }
    if (!server_closed && ws.is_open()) {
      closing = true;
      close_timer.expires_after(kCloseGrace);
      close_timer.async_wait([this](const beast::error_code& e) {
        if (!e) ws.force_close();
      });
      co_await ws.close(websocket::close_code::normal, "done");
    }
    if (reader_running) {
      co_await reader_done.async_wait(redirect_error(use_awaitable, wait_ec));
    }
    close_timer.cancel();
    spdlog::info("event=push_done frames_sent={} frames_dropped={} exit_code={}",
                 result.frames_sent, result.frames_dropped + source->dropped(), result.exit_code);
  }

  awaitable<void> tick_loop() {
    auto interval = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(1.0 / options.fps));
    auto next = Clock::now();
    while (!stopping && !server_closed) {
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
    if (writing) {
      if (pending) ++result.frames_dropped;  // the older waiting frame is stale now
      pending = std::move(frame);
      return;
    }
    writing = true;
    ++started_writes;
    asio::co_spawn(ioc, write_loop(std::move(frame)), asio::detached);
  }

  awaitable<void> write_loop(std::string frame) {
    for (;;) {
      beast::error_code ec = co_await ws.write(frame, true);
      if (ec) break;  // the reader reports why
      ++result.frames_sent;
      if (!pending || server_closed || (options.count > 0 && started_writes >= options.count)) {
        break;
      }
      frame = std::move(*pending);
      pending.reset();
      ++started_writes;
    }
    if (pending) {
      ++result.frames_dropped;
      pending.reset();
    }
    writing = false;
    idle.cancel();
  }

  awaitable<void> read_loop() {
    beast::flat_buffer buffer;
    beast::error_code ec;
    for (;;) {
      bool binary = false;
      ec = co_await ws.read(buffer, binary);
      if (ec) break;
      if (!binary) on_text(beast::buffers_to_string(buffer.data()));
      buffer.consume(buffer.size());
    }
    if (!closing) {
      server_closed = true;
      ticker.cancel();
      idle.cancel();
      if (ec == websocket::error::closed) {
        auto reason = ws.reason();
        result.close_code = static_cast<int>(reason.code);
        std::string why(reason.reason);
        if (why.empty()) why = ended_message;
        if (why.empty()) why = "no reason given";
        if (!ended_reason.empty()) why += " [" + ended_reason + "]";
        result.reason = fmt::format("server closed the stream ({}): {}", result.close_code, why);
      } else {
        result.reason = "connection lost: " + ec.message();
      }
      if (!stopping) result.exit_code = PushResult::kExitClosedByServer;
      spdlog::error("event=stream_closed close_code={} reason={}", result.close_code,
                    quoted(result.reason));
      ws.force_close();
    }
    reader_running = false;
    reader_done.cancel();
  }

  void on_text(const std::string& text) {
    json msg = json::parse(text, nullptr, false);
    if (!msg.is_object()) {
      spdlog::warn("event=bad_message bytes={}", text.size());
      return;
    }
    std::string type = msg.value("type", std::string());
    if (type == "status") {
      ++result.status_messages;
      spdlog::info("event=status{} sent={} local_drops={}", compact(msg), result.frames_sent,
                   result.frames_dropped + source->dropped());
    } else if (type == "ended") {
      ended_reason = msg.value("reason", std::string());
      ended_message = msg.value("message", std::string());
      spdlog::warn("event=stream_ended{}", compact(msg));
    } else if (type == "error") {
      spdlog::warn("event=server_error{}", compact(msg));
    } else if (type == "frame") {
      // One per processed frame (for the studio's preview): too many for an info log.
      spdlog::debug("event=processed_frame{}", compact(msg));
    } else {
      spdlog::info("event=server_message type={}{}", log_value(json(type)), compact(msg));
    }
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
