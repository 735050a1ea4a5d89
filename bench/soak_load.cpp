// soak_load: the client swarm of the soak run (driven by bench/soak.py, see docs/reliability.md).
//
// One process, one io_context thread (C++20 coroutines on Boost.Beast), loopback only:
//   - streamers: one /ws/ingest socket per stream, a JPEG every 1/--fps seconds;
//   - viewers: --viewers slots, each joining /ws/watch/<random stream>, reading for a random
//     while, leaving (mostly with a close frame, sometimes dropping or resetting the TCP
//     connection), pausing briefly and joining again;
//   - MJPEG readers: --mjpeg slots doing the same on /u/<name>/stream.mjpeg, some resetting the
//     connection right after the request.
//
//   soak_load --port P --streams FILE --file a.jpg [--file b.jpg ...] --duration S
//             [--fps 10] [--viewers 500] [--mjpeg 20] [--dwell-min 2] [--dwell-max 30]
//             [--mjpeg-reset-at-once 0.2] [--report-every 5] [--seed 1]
//
// FILE holds one "username stream_key" per line. Every --report-every seconds a line
// {"type":"progress",...} goes to stdout; after --duration (or SIGTERM/SIGINT) every client
// leaves, and {"type":"final",...} is printed once all have left (or 15 s have passed).
#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using asio::use_awaitable;
using Ws = websocket::stream<beast::tcp_stream>;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(10);
constexpr auto kRetryPause = std::chrono::seconds(1);
constexpr auto kLeaveTimeout = std::chrono::seconds(5);
constexpr auto kFinishTimeout = std::chrono::seconds(15);
constexpr std::string_view kBoundary = "--dreamstreamframe";

struct Args {
  unsigned short port = 0;
  std::string streams_file;
  std::vector<std::string> files;
  double duration = 60;
  double fps = 10;
  int viewers = 500;
  int mjpeg = 20;
  double dwell_min = 2;
  double dwell_max = 30;
  double report_every = 5;
  double mjpeg_reset_at_once = 0.2;
  unsigned seed = 1;
};

struct Stream {
  std::string name;
  std::string key;
};

// How a client leaves. Graceful is the common case; the others are what flaky networks and
// killed browsers do.
enum class Leave { kGraceful, kDrop, kReset };

struct Counters {
  // streamers
  uint64_t streamer_connects = 0;
  uint64_t streamer_connect_failed = 0;
  uint64_t streamer_drops = 0;  // the server closed or broke a streamer's socket mid-run
  uint64_t frames_sent = 0;
  uint64_t frames_late = 0;  // a send slot missed (the pusher fell behind its schedule)
  uint64_t ingest_texts = 0;
  uint64_t ingest_binaries = 0;
  int streamers_active = 0;
  // WebSocket viewers
  uint64_t viewers_joined = 0;
  uint64_t viewers_left = 0;
  uint64_t viewers_left_graceful = 0;
  uint64_t viewers_left_drop = 0;
  uint64_t viewers_left_reset = 0;
  uint64_t viewers_closed_by_server = 0;
  uint64_t viewers_failed = 0;
  uint64_t viewer_frames = 0;
  uint64_t viewer_texts = 0;
  int viewers_active = 0;
  int viewers_peak = 0;
  // MJPEG readers
  uint64_t mjpeg_opened = 0;
  uint64_t mjpeg_left = 0;
  uint64_t mjpeg_graceful = 0;
  uint64_t mjpeg_reset_at_once = 0;
  uint64_t mjpeg_reset_later = 0;
  uint64_t mjpeg_closed_by_server = 0;
  uint64_t mjpeg_failed = 0;
  uint64_t mjpeg_not_ok = 0;  // a response other than 200
  uint64_t mjpeg_frames = 0;
  uint64_t mjpeg_bytes = 0;
  int mjpeg_active = 0;
};

struct State {
  Args args;
  std::vector<Stream> streams;
  std::vector<std::string> frames;
  std::mt19937 rng;
  Counters n;
  bool stopping = false;
  Clock::time_point t0 = Clock::now();
  // One timer per client slot; stopping cancels them all so every client leaves at once.
  std::vector<std::unique_ptr<asio::steady_timer>> timers;
  std::vector<std::string> errors;  // the first few distinct failures, for the report

  double uniform(double lo, double hi) { return std::uniform_real_distribution<>(lo, hi)(rng); }
  const Stream& any_stream() {
    return streams[std::uniform_int_distribution<size_t>(0, streams.size() - 1)(rng)];
  }
  void note(const std::string& what, const beast::error_code& ec) {
    std::string e = ec ? what + ": " + ec.message() : what;
    if (errors.size() < 10 && std::find(errors.begin(), errors.end(), e) == errors.end())
      errors.push_back(e);
  }
  Leave pick_leave(double drop, double reset) {
    double r = uniform(0, 1);
    if (r < drop) return Leave::kDrop;
    if (r < drop + reset) return Leave::kReset;
    return Leave::kGraceful;
  }
  Clock::duration dwell() {
    return std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(uniform(args.dwell_min, args.dwell_max)));
  }
};

std::chrono::milliseconds ms(double v) {
  return std::chrono::milliseconds(static_cast<int64_t>(v));
}

asio::awaitable<void> sleep_on(asio::steady_timer& t, Clock::duration d) {
  beast::error_code ec;
  t.expires_after(d);
  co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
}

// Closes a TCP socket the abrupt way: a FIN without a WebSocket close frame, or an RST.
void close_abruptly(tcp::socket& s, Leave how) {
  beast::error_code ec;
  if (how == Leave::kReset) s.set_option(asio::socket_base::linger(true, 0), ec);
  s.close(ec);
}

asio::awaitable<beast::error_code> ws_connect(State& st, Ws& ws, const std::string& target,
                                              const std::string& bearer) {
  beast::error_code ec;
  auto& layer = beast::get_lowest_layer(ws);
  layer.expires_after(kConnectTimeout);
  co_await layer.async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), st.args.port),
                               asio::redirect_error(use_awaitable, ec));
  if (ec) co_return ec;
  layer.socket().set_option(tcp::no_delay(true), ec);
  layer.expires_never();
  ws.set_option(
      websocket::stream_base::timeout{kConnectTimeout, websocket::stream_base::none(), false});
  ws.set_option(websocket::stream_base::decorator([bearer](websocket::request_type& req) {
    if (!bearer.empty()) req.set(beast::http::field::authorization, "Bearer " + bearer);
  }));
  ws.read_message_max(16u << 20);
  co_await ws.async_handshake("127.0.0.1:" + std::to_string(st.args.port), target,
                              asio::redirect_error(use_awaitable, ec));
  co_return ec;
}

// Waits (polling, the reader has no completion to await) until done is set or the time is up.
asio::awaitable<bool> wait_for(const bool& done, Clock::duration limit) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  auto end = Clock::now() + limit;
  while (!done && Clock::now() < end) co_await sleep_on(t, std::chrono::milliseconds(20));
  co_return done;
}

// ---- streamers ------------------------------------------------------------------------------
struct IngestConn {
  explicit IngestConn(asio::any_io_executor ex) : ws(ex) {}
  Ws ws;
  bool reader_done = false;
};

asio::awaitable<void> ingest_reader(State& st, std::shared_ptr<IngestConn> c) {
  beast::flat_buffer buf;
  beast::error_code ec;
  for (;;) {
    co_await c->ws.async_read(buf, asio::redirect_error(use_awaitable, ec));
    if (ec) break;
    if (c->ws.got_binary()) {
      ++st.n.ingest_binaries;
    } else {
      ++st.n.ingest_texts;
      std::string_view text(static_cast<const char*>(buf.cdata().data()), buf.size());
      if (!st.stopping && text.find("\"ended\"") != std::string_view::npos)
        st.note("ingest ended " + std::string(text.substr(0, 200)), {});
    }
    buf.consume(buf.size());
  }
  if (!st.stopping) st.note("ingest read", ec);
  c->reader_done = true;
}

asio::awaitable<void> streamer(State& st, size_t i) {
  auto ex = co_await asio::this_coro::executor;
  auto& timer = *st.timers[i];
  const Stream& s = st.streams[i];
  const auto interval =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / st.args.fps));
  uint64_t seq = i;
  while (!st.stopping) {
    auto c = std::make_shared<IngestConn>(ex);
    auto ec = co_await ws_connect(st, c->ws, "/ws/ingest", s.key);
    if (ec) {
      ++st.n.streamer_connect_failed;
      st.note("ingest connect", ec);
      co_await sleep_on(timer, kRetryPause);
      continue;
    }
    ++st.n.streamer_connects;
    ++st.n.streamers_active;
    asio::co_spawn(ex, ingest_reader(st, c), asio::detached);
    c->ws.binary(true);
    auto next = Clock::now();
    while (!st.stopping && !c->reader_done) {
      const std::string& f = st.frames[seq++ % st.frames.size()];
      co_await c->ws.async_write(asio::buffer(f), asio::redirect_error(use_awaitable, ec));
      if (ec) break;
      ++st.n.frames_sent;
      next += interval;
      if (next < Clock::now()) {
        ++st.n.frames_late;
        next = Clock::now();
      }
      timer.expires_at(next);
      co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
      ec = {};
    }
    if (st.stopping && !c->reader_done && !ec) {
      co_await c->ws.async_close(websocket::close_code::normal,
                                 asio::redirect_error(use_awaitable, ec));
      if (!co_await wait_for(c->reader_done, kLeaveTimeout))
        close_abruptly(beast::get_lowest_layer(c->ws).socket(), Leave::kDrop);
      co_await wait_for(c->reader_done, kLeaveTimeout);
    } else {
      ++st.n.streamer_drops;
      if (ec) st.note("ingest write", ec);
      close_abruptly(beast::get_lowest_layer(c->ws).socket(), Leave::kDrop);
      co_await wait_for(c->reader_done, kLeaveTimeout);
    }
    --st.n.streamers_active;
    if (!st.stopping) co_await sleep_on(timer, kRetryPause);
  }
}

// ---- WebSocket viewers -----------------------------------------------------------------------
struct ViewerConn {
  explicit ViewerConn(asio::any_io_executor ex) : ws(ex) {}
  Ws ws;
  bool reader_done = false;
};

asio::awaitable<void> viewer_reader(State& st, std::shared_ptr<ViewerConn> c,
                                    asio::steady_timer& wake) {
  beast::flat_buffer buf;
  beast::error_code ec;
  for (;;) {
    co_await c->ws.async_read(buf, asio::redirect_error(use_awaitable, ec));
    if (ec) break;
    if (c->ws.got_binary())
      ++st.n.viewer_frames;
    else
      ++st.n.viewer_texts;
    buf.consume(buf.size());
  }
  c->reader_done = true;
  wake.cancel();
}

asio::awaitable<void> viewer_slot(State& st, size_t slot) {
  auto ex = co_await asio::this_coro::executor;
  auto& timer = *st.timers[slot];
  // Spread the first joins over a few seconds rather than 500 handshakes at once.
  co_await sleep_on(timer, ms(st.uniform(0, 5000)));
  while (!st.stopping) {
    const Stream& s = st.any_stream();
    auto c = std::make_shared<ViewerConn>(ex);
    auto ec = co_await ws_connect(st, c->ws, "/ws/watch/" + s.name, "");
    if (ec) {
      ++st.n.viewers_failed;
      st.note("watch connect", ec);
      close_abruptly(beast::get_lowest_layer(c->ws).socket(), Leave::kDrop);
      co_await sleep_on(timer, kRetryPause);
      continue;
    }
    ++st.n.viewers_joined;
    st.n.viewers_peak = std::max(st.n.viewers_peak, ++st.n.viewers_active);
    asio::co_spawn(ex, viewer_reader(st, c, timer), asio::detached);
    if (!st.stopping) co_await sleep_on(timer, st.dwell());
    if (c->reader_done) {
      ++st.n.viewers_closed_by_server;
      if (!st.stopping) st.note("watch closed by server", {});
    } else {
      // At the end every viewer says goodbye properly, so the run ends in a known state.
      Leave how = st.stopping ? Leave::kGraceful : st.pick_leave(0.1, 0.1);
      if (how == Leave::kGraceful) {
        ++st.n.viewers_left_graceful;
        co_await c->ws.async_close(websocket::close_code::going_away,
                                   asio::redirect_error(use_awaitable, ec));
        if (!co_await wait_for(c->reader_done, kLeaveTimeout)) {
          st.note("watch close handshake", ec);
          close_abruptly(beast::get_lowest_layer(c->ws).socket(), Leave::kDrop);
        }
      } else {
        ++(how == Leave::kDrop ? st.n.viewers_left_drop : st.n.viewers_left_reset);
        close_abruptly(beast::get_lowest_layer(c->ws).socket(), how);
      }
      co_await wait_for(c->reader_done, kLeaveTimeout);
    }
    --st.n.viewers_active;
    ++st.n.viewers_left;
    if (!st.stopping) co_await sleep_on(timer, ms(st.uniform(0, 500)));
  }
}

// ---- MJPEG readers ---------------------------------------------------------------------------
struct MjpegConn {
  explicit MjpegConn(asio::any_io_executor ex) : sock(ex) {}
  tcp::socket sock;
  bool reader_done = false;
};

asio::awaitable<void> mjpeg_reader(State& st, std::shared_ptr<MjpegConn> c,
                                   asio::steady_timer& wake) {
  std::vector<char> buf(64 * 1024);
  std::string tail;  // the last bytes of the previous read, so a boundary split in two counts
  bool first = true;
  beast::error_code ec;
  for (;;) {
    size_t got = co_await c->sock.async_read_some(asio::buffer(buf),
                                                  asio::redirect_error(use_awaitable, ec));
    if (ec) break;
    st.n.mjpeg_bytes += got;
    std::string chunk = tail + std::string(buf.data(), got);
    if (first) {
      first = false;
      if (chunk.rfind("HTTP/1.1 200", 0) != 0 && chunk.rfind("HTTP/1.0 200", 0) != 0) {
        ++st.n.mjpeg_not_ok;
        st.note("mjpeg status " + chunk.substr(0, chunk.find('\r')), {});
      }
    }
    for (size_t p = chunk.find(kBoundary); p != std::string::npos;
         p = chunk.find(kBoundary, p + kBoundary.size()))
      ++st.n.mjpeg_frames;
    size_t keep = std::min(chunk.size(), kBoundary.size() - 1);
    tail = chunk.substr(chunk.size() - keep);
  }
  c->reader_done = true;
  wake.cancel();
}

asio::awaitable<void> mjpeg_slot(State& st, size_t slot) {
  auto ex = co_await asio::this_coro::executor;
  auto& timer = *st.timers[slot];
  co_await sleep_on(timer, ms(st.uniform(0, 5000)));
  while (!st.stopping) {
    const Stream& s = st.any_stream();
    auto c = std::make_shared<MjpegConn>(ex);
    beast::error_code ec;
    co_await c->sock.async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), st.args.port),
                                   asio::redirect_error(use_awaitable, ec));
    std::string req = "GET /u/" + s.name +
                      "/stream.mjpeg HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(st.args.port) +
                      "\r\nUser-Agent: soak_load\r\n\r\n";
    if (!ec)
      co_await asio::async_write(c->sock, asio::buffer(req),
                                 asio::redirect_error(use_awaitable, ec));
    if (ec) {
      ++st.n.mjpeg_failed;
      st.note("mjpeg connect", ec);
      close_abruptly(c->sock, Leave::kDrop);
      co_await sleep_on(timer, kRetryPause);
      continue;
    }
    ++st.n.mjpeg_opened;
    ++st.n.mjpeg_active;
    // Some reset the connection as soon as the request is out: the race between the server
    // registering the viewer and noticing it is gone.
    if (!st.stopping && st.uniform(0, 1) < st.args.mjpeg_reset_at_once) {
      ++st.n.mjpeg_reset_at_once;
      close_abruptly(c->sock, Leave::kReset);
    } else {
      asio::co_spawn(ex, mjpeg_reader(st, c, timer), asio::detached);
      if (!st.stopping) co_await sleep_on(timer, st.dwell());
      if (c->reader_done) {
        ++st.n.mjpeg_closed_by_server;
        if (!st.stopping) st.note("mjpeg closed by server", {});
      } else {
        Leave how = st.stopping ? Leave::kGraceful : st.pick_leave(0.0, 0.25);
        if (how == Leave::kGraceful) {
          ++st.n.mjpeg_graceful;
          c->sock.shutdown(tcp::socket::shutdown_both, ec);
          close_abruptly(c->sock, Leave::kDrop);  // after shutdown this is the ordinary close
        } else {
          ++st.n.mjpeg_reset_later;
          close_abruptly(c->sock, Leave::kReset);
        }
      }
      co_await wait_for(c->reader_done, kLeaveTimeout);
    }
    --st.n.mjpeg_active;
    ++st.n.mjpeg_left;
    if (!st.stopping) co_await sleep_on(timer, ms(st.uniform(0, 500)));
  }
}

// ---- reporting -------------------------------------------------------------------------------
nlohmann::json snapshot(const State& st, const char* type) {
  const Counters& n = st.n;
  return {
      {"type", type},
      {"t", std::chrono::duration<double>(Clock::now() - st.t0).count()},
      {"streamers",
       {{"connects", n.streamer_connects},
        {"connect_failed", n.streamer_connect_failed},
        {"drops", n.streamer_drops},
        {"active", n.streamers_active},
        {"frames_sent", n.frames_sent},
        {"frames_late", n.frames_late},
        {"texts", n.ingest_texts},
        {"binaries", n.ingest_binaries}}},
      {"viewers",
       {{"joined", n.viewers_joined},
        {"left", n.viewers_left},
        {"left_graceful", n.viewers_left_graceful},
        {"left_drop", n.viewers_left_drop},
        {"left_reset", n.viewers_left_reset},
        {"closed_by_server", n.viewers_closed_by_server},
        {"failed", n.viewers_failed},
        {"active", n.viewers_active},
        {"peak", n.viewers_peak},
        {"frames", n.viewer_frames},
        {"texts", n.viewer_texts}}},
      {"mjpeg",
       {{"opened", n.mjpeg_opened},
        {"left", n.mjpeg_left},
        {"graceful", n.mjpeg_graceful},
        {"reset_at_once", n.mjpeg_reset_at_once},
        {"reset_later", n.mjpeg_reset_later},
        {"closed_by_server", n.mjpeg_closed_by_server},
        {"failed", n.mjpeg_failed},
        {"not_ok", n.mjpeg_not_ok},
        {"active", n.mjpeg_active},
        {"frames", n.mjpeg_frames},
        {"bytes", n.mjpeg_bytes}}},
      {"errors", st.errors},
  };
}

void print(const nlohmann::json& j) {
  std::printf("%s\n", j.dump().c_str());
  std::fflush(stdout);
}

void begin_stop(State& st) {
  if (st.stopping) return;
  st.stopping = true;
  for (auto& t : st.timers) t->cancel();
}

asio::awaitable<void> conductor(State& st) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  const auto end = st.t0 + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(st.args.duration));
  auto next_report = Clock::now();
  while (!st.stopping && Clock::now() < end) {
    if (Clock::now() >= next_report) {
      print(snapshot(st, "progress"));
      next_report += ms(st.args.report_every * 1000);
    }
    co_await sleep_on(t, std::chrono::milliseconds(100));
  }
  begin_stop(st);
  const auto give_up = Clock::now() + kFinishTimeout;
  while ((st.n.streamers_active + st.n.viewers_active + st.n.mjpeg_active) > 0 &&
         Clock::now() < give_up)
    co_await sleep_on(t, std::chrono::milliseconds(50));
  print(snapshot(st, "final"));
  std::_Exit(0);  // whatever is left is reported as active; the kernel closes it
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error("missing value for " + k);
      return argv[++i];
    };
    if (k == "--port")
      a.port = static_cast<unsigned short>(std::stoi(val()));
    else if (k == "--streams")
      a.streams_file = val();
    else if (k == "--file")
      a.files.push_back(val());
    else if (k == "--duration")
      a.duration = std::stod(val());
    else if (k == "--fps")
      a.fps = std::stod(val());
    else if (k == "--viewers")
      a.viewers = std::stoi(val());
    else if (k == "--mjpeg")
      a.mjpeg = std::stoi(val());
    else if (k == "--dwell-min")
      a.dwell_min = std::stod(val());
    else if (k == "--dwell-max")
      a.dwell_max = std::stod(val());
    else if (k == "--report-every")
      a.report_every = std::stod(val());
    else if (k == "--mjpeg-reset-at-once")
      a.mjpeg_reset_at_once = std::stod(val());
    else if (k == "--seed")
      a.seed = static_cast<unsigned>(std::stoul(val()));
    else
      throw std::runtime_error("unknown option " + k);
  }
  if (a.port == 0 || a.streams_file.empty() || a.files.empty())
    throw std::runtime_error("usage: soak_load --port P --streams FILE --file a.jpg ...");
  if (a.fps <= 0 || a.dwell_max < a.dwell_min) throw std::runtime_error("bad --fps or --dwell-*");
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    State st;
    st.args = parse_args(argc, argv);
    st.rng.seed(st.args.seed);
    for (auto& f : st.args.files) st.frames.push_back(read_file(f));
    std::ifstream in(st.args.streams_file);
    for (Stream s; in >> s.name >> s.key;) st.streams.push_back(s);
    if (st.streams.empty()) throw std::runtime_error("no streams in " + st.args.streams_file);

    asio::io_context ioc(1);
    const size_t slots = st.streams.size() + static_cast<size_t>(st.args.viewers) +
                         static_cast<size_t>(st.args.mjpeg);
    for (size_t i = 0; i < slots; ++i)
      st.timers.push_back(std::make_unique<asio::steady_timer>(ioc));
    size_t slot = 0;
    for (size_t i = 0; i < st.streams.size(); ++i)
      asio::co_spawn(ioc, streamer(st, slot++), asio::detached);
    for (int i = 0; i < st.args.viewers; ++i)
      asio::co_spawn(ioc, viewer_slot(st, slot++), asio::detached);
    for (int i = 0; i < st.args.mjpeg; ++i)
      asio::co_spawn(ioc, mjpeg_slot(st, slot++), asio::detached);
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&st](beast::error_code ec, int) {
      if (!ec) begin_stop(st);
    });
    asio::co_spawn(ioc, conductor(st), asio::detached);
    ioc.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "soak_load: %s\n", e.what());
    return 1;
  }
  return 0;
}
