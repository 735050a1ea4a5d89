// The HTTP/WebSocket server: listener, sessions, the blocking pool for handlers, shutdown.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/app.hpp"
#include "api/router.hpp"
#include "domain/client_address.hpp"
#include "net/connection_limits.hpp"
#include "net/static_assets.hpp"

namespace ds::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct ServerOptions {
  std::string host = "127.0.0.1";
  unsigned short port = 8080;
  std::size_t io_threads = 0;  // 0: one per CPU in the affinity mask, at least 2
  std::size_t blocking_threads = 8;
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 1024 * 1024;
  std::chrono::seconds read_timeout{30};
  // 0: derived from the process's descriptor limit (see Server::Server).
  std::size_t max_connections = 0;
  std::size_t max_connections_per_address = 256;  // 0: no per-address limit
  // A WebSocket peer is pinged after half of this without traffic and dropped after all of it
  // (so a reader that stops reading goes too); an MJPEG write may take this long at most.
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::seconds handshake_timeout{10};
  // Peers whose X-Forwarded-For is believed (reverse proxies); empty: the TCP peer is the client.
  std::vector<domain::Cidr> trusted_proxies;
  // Strict-Transport-Security on every response (set when the public URL is https).
  bool hsts = false;
  // The CSP frame-ancestors sources of the embed page (/u/<name>/embed): "*" lets any site
  // frame it. Every other response sends frame-ancestors 'none' and X-Frame-Options DENY.
  std::string embed_ancestors = "*";
};

using HttpRequest = http::request<http::string_body>;

// Each io thread runs its own io_context (an event loop, as in uWebSockets or Node), and a
// connection lives on one of them for its whole life: its handlers never run concurrently
// without a strand. That, and the concrete executor type instead of any_io_executor, saves a
// strand queue (a mutex and a reference-counted executor copy) and a type-erased executor copy
// on every asynchronous operation, per frame per viewer (docs/performance.md, fan-out).
using ConnectionExecutor = asio::io_context::executor_type;
using Socket = tcp::socket::rebind_executor<ConnectionExecutor>::other;
using Stream = beast::basic_stream<tcp, ConnectionExecutor, beast::unlimited_rate_policy>;

// An accepted connection: the socket and the slot it holds against the connection limits.
struct Connection {
  Stream stream;
  ConnectionSlot slot;
};

// Takes over a connection: WebSocket upgrades and long-lived responses such as MJPEG.
using TakeoverHandler =
    std::function<void(Connection&& conn, HttpRequest&& req, api::Request&& info)>;

// Everything sessions share; owned by Server, outlives every session.
struct SharedState {
  ServerOptions options;
  const api::Router& router;
  api::App& app;
  StaticAssets assets;
  asio::thread_pool& blocking;
  struct Takeover {
    std::string method;
    std::vector<std::string> pattern;
    bool websocket = false;
    TakeoverHandler handler;
  };
  std::vector<Takeover> takeovers;
  std::vector<std::pair<std::string, std::size_t>> body_limits;  // path prefix → limit
  std::shared_ptr<ConnectionLimits> limits;

  std::size_t body_limit_for(std::string_view path) const;
};

class Server {
 public:
  Server(ServerOptions options, const api::Router& router, api::App& app, StaticAssets assets);
  ~Server();

  // Register before start().
  void add_websocket(std::string pattern, TakeoverHandler handler);
  void add_takeover(std::string method, std::string pattern, TakeoverHandler handler);
  void set_body_limit(std::string path_prefix, std::size_t limit);
  // Runs, on the shutdown path, before the io threads stop (e.g. final billing).
  void on_shutdown(std::function<void()> fn) { shutdown_hooks_.push_back(std::move(fn)); }

  // Binds and listens; returns the bound port (useful with port 0).
  unsigned short start();
  // Runs the io threads until SIGINT/SIGTERM or stop().
  void run();
  void stop();

  // The event loop for the next connection (round robin over the io threads' loops).
  asio::io_context& next_loop();
  const ServerOptions& options() const { return state_->options; }
  std::shared_ptr<ConnectionLimits> limits() const { return state_->limits; }
  asio::thread_pool& blocking_pool() { return blocking_; }

 private:
  // One per io thread; loops_[0] also runs the listener and the signal handler. Each is kept
  // running (work_) until stop(), even while it has no connection.
  std::vector<std::unique_ptr<asio::io_context>> loops_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::atomic<std::size_t> next_loop_{0};
  asio::thread_pool blocking_;
  std::shared_ptr<SharedState> state_;
  std::shared_ptr<class Listener> listener_;
  asio::signal_set signals_;
  std::vector<std::function<void()>> shutdown_hooks_;
  std::atomic<bool> stopping_{false};
};

// The frame-ancestors of every response but the embed page's: no site may frame it.
inline constexpr std::string_view kNoFraming = "'none'";

// Adds the security headers every response carries. frame_ancestors is the CSP source list of
// sites that may frame the response; X-Frame-Options DENY goes with kNoFraming only (it cannot
// name sites, and browsers prefer frame-ancestors anyway).
void apply_security_headers(http::fields& fields, std::string_view frame_ancestors = kNoFraming);

// Whether text can be a frame-ancestors source list in a header: printable ASCII words, no
// ';' or ',' that would end the directive or the policy.
bool valid_frame_ancestors(std::string_view text);

// Converts a Beast request into the handlers' transport-neutral form. remote_addr becomes the
// client's address: the TCP peer, or, when the peer is a trusted proxy, the first untrusted
// hop of X-Forwarded-For read from the right (domain::resolve_client_address).
api::Request to_api_request(const HttpRequest& req, const std::string& peer_addr,
                            const std::vector<domain::Cidr>& trusted_proxies = {});

// The Strict-Transport-Security value sent when ServerOptions::hsts is set.
inline constexpr const char* kHstsValue = "max-age=31536000";

// Whether peer_addr (a TCP peer) is one of options.trusted_proxies.
bool is_trusted_proxy(const ServerOptions& options, std::string_view peer_addr);

// Strict-Transport-Security goes on every response, WebSocket and MJPEG handshakes included,
// when the public URL is https or the client came through a trusted proxy over TLS.
inline bool wants_hsts(const ServerOptions& options, const api::Request& info) {
  return options.hsts || info.https;
}

// Logs and ignores the errors a closed connection produces.
void fail(beast::error_code ec, const char* what);

// The largest number of connections the descriptor limit allows, after raising the soft
// limit to the hard one, with room kept for the database, logs and workers' own files.
std::size_t default_max_connections();

}  // namespace ds::net
