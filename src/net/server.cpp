#include "net/server.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>

#include "net/io_threads.hpp"
#include "net/listener.hpp"
#include "util/event_loop.hpp"

namespace ds::net {

std::size_t SharedState::body_limit_for(std::string_view path) const {
  for (const auto& [prefix, limit] : body_limits) {
    if (path.starts_with(prefix)) return limit;
  }
  return options.max_body_bytes;
}

namespace {

std::vector<std::unique_ptr<asio::io_context>> make_loops(std::size_t n) {
  std::vector<std::unique_ptr<asio::io_context>> loops;
  for (std::size_t i = 0; i < n; ++i) loops.push_back(std::make_unique<asio::io_context>(1));
  return loops;
}

}  // namespace

Server::Server(ServerOptions options, const api::Router& router, api::App& app, StaticAssets assets)
    : loops_(make_loops(io_thread_count(options.io_threads, usable_cpus()))),
      blocking_(options.blocking_threads),
      state_(std::make_shared<SharedState>(
          SharedState{options, router, app, std::move(assets), blocking_, {}, {}, nullptr})),
      signals_(*loops_[0], SIGINT, SIGTERM) {
  for (auto& loop : loops_) work_.push_back(asio::make_work_guard(*loop));
  auto max_total =
      options.max_connections != 0 ? options.max_connections : default_max_connections();
  state_->options.max_connections = max_total;
  state_->limits =
      std::make_shared<ConnectionLimits>(max_total, options.max_connections_per_address);
}

Server::~Server() { blocking_.join(); }

asio::io_context& Server::next_loop() {
  return *loops_[next_loop_.fetch_add(1, std::memory_order_relaxed) % loops_.size()];
}

void Server::add_websocket(std::string pattern, TakeoverHandler handler) {
  state_->takeovers.push_back({"GET", api::split_path(pattern), true, std::move(handler)});
}

void Server::add_takeover(std::string method, std::string pattern, TakeoverHandler handler) {
  state_->takeovers.push_back(
      {std::move(method), api::split_path(pattern), false, std::move(handler)});
}

void Server::set_body_limit(std::string path_prefix, std::size_t limit) {
  state_->body_limits.emplace_back(std::move(path_prefix), limit);
}

unsigned short Server::start() {
  auto address = asio::ip::make_address(state_->options.host);
  listener_ =
      std::make_shared<Listener>(*loops_[0], tcp::endpoint{address, state_->options.port}, state_,
                                 [this]() -> asio::io_context& { return next_loop(); });
  listener_->run();
  signals_.async_wait([this](beast::error_code ec, int sig) {
    if (ec) return;
    spdlog::info("event=signal signal={}", sig);
    stop();
  });
  return listener_->port();
}

void Server::run() {
  // A handler that throws must not take the process down: log it and keep serving (Asio
  // leaves the io_context usable after an exception escapes run()).
  auto run_guarded = [](asio::io_context& loop) {
    event_loop::Scope on_loop;
    for (;;) {
      try {
        loop.run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("event=io_handler_error error=\"{}\"", e.what());
      } catch (...) {
        spdlog::error("event=io_handler_error error=unknown");
      }
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < loops_.size(); ++i) {
    threads.emplace_back([&run_guarded, loop = loops_[i].get()] { run_guarded(*loop); });
  }
  run_guarded(*loops_[0]);
  for (auto& t : threads) t.join();
}

void Server::stop() {
  if (stopping_.exchange(true)) return;
  if (listener_) listener_->close();
  beast::error_code ec;
  signals_.cancel(ec);
  // Hooks may block on the database (final billing): run them off the io threads, then stop.
  asio::post(blocking_, [this] {
    for (auto& hook : shutdown_hooks_) {
      try {
        hook();
      } catch (const std::exception& e) {
        spdlog::error("event=shutdown_hook_failed error=\"{}\"", e.what());
      }
    }
    // The hooks queued goodbyes ("ended", close frames) on the sessions' loops; stopping the
    // io threads at once would drop them. A short, bounded drain lets them go out.
    spdlog::info("event=stopped");
    auto drain = std::make_shared<asio::steady_timer>(*loops_[0], std::chrono::milliseconds(300));
    drain->async_wait([this, drain](beast::error_code) {
      for (auto& w : work_) w.reset();
      for (auto& loop : loops_) loop->stop();
    });
  });
}

void apply_security_headers(http::fields& f, std::string_view frame_ancestors) {
  std::string csp =
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
      "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
      "form-action 'self'; frame-ancestors ";
  csp += frame_ancestors;
  f.set("Content-Security-Policy", csp);
  f.set("X-Content-Type-Options", "nosniff");
  f.set("Referrer-Policy", "strict-origin-when-cross-origin");
  if (frame_ancestors == kNoFraming) f.set("X-Frame-Options", "DENY");
  f.set("Permissions-Policy", "camera=(self), microphone=(), geolocation=()");
}

bool valid_frame_ancestors(std::string_view text) {
  bool word = false;
  for (char c : text) {
    if (c == ';' || c == ',' || c < ' ' || c > '~') return false;
    if (c != ' ') word = true;
  }
  return word;
}

api::Request to_api_request(const HttpRequest& req, const std::string& peer_addr,
                            const std::vector<domain::Cidr>& trusted_proxies) {
  api::Request r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  auto q = r.target.find('?');
  r.path = api::url_decode(std::string_view(r.target).substr(0, q), false);
  if (q != std::string::npos) r.query = r.target.substr(q + 1);
  for (const auto& field : req) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  r.body = req.body();
  std::vector<std::string_view> forwarded_for;
  if (!trusted_proxies.empty()) {
    for (const auto& [name, value] : r.headers) {
      if (name == "x-forwarded-for") forwarded_for.emplace_back(value);
    }
  }
  r.remote_addr = domain::resolve_client_address(peer_addr, forwarded_for, trusted_proxies);
  // Only a trusted proxy may say how the client reached it; anyone else could claim TLS.
  auto peer = trusted_proxies.empty() ? std::nullopt : domain::parse_ip(peer_addr);
  if (peer && domain::in_any(trusted_proxies, *peer)) {
    if (auto proto = r.header("x-forwarded-proto")) {
      // The leftmost value is what the first proxy, the one the client reached, saw.
      std::string first = proto->substr(0, proto->find(','));
      std::erase(first, ' ');
      for (char& c : first) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.https = first == "https";
    }
  }
  return r;
}

bool is_trusted_proxy(const ServerOptions& options, std::string_view peer_addr) {
  if (options.trusted_proxies.empty()) return false;
  auto peer = domain::parse_ip(peer_addr);
  return peer && domain::in_any(options.trusted_proxies, *peer);
}

std::size_t default_max_connections() {
  constexpr rlim_t kReserved = 64;  // database, log, listener, in-process workers
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1000;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max == RLIM_INFINITY ? 1'048'576 : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  if (rl.rlim_cur == RLIM_INFINITY) return 100'000;
  if (rl.rlim_cur <= kReserved * 2) return static_cast<std::size_t>(rl.rlim_cur / 2);
  return static_cast<std::size_t>(std::min<rlim_t>(rl.rlim_cur - kReserved, 100'000));
}

void fail(beast::error_code ec, const char* what) {
  if (ec == asio::error::operation_aborted || ec == beast::websocket::error::closed ||
      ec == asio::error::eof || ec == asio::error::connection_reset ||
      ec == beast::error::timeout || ec == asio::error::broken_pipe) {
    return;
  }
  spdlog::debug("event=io_error op={} error=\"{}\"", what, ec.message());
}

}  // namespace ds::net
