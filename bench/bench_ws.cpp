// bench_ws: the WebSocket load tool behind the benchmarks in docs/performance.md.
//
// One process, one io_context thread, many connections (C++20 coroutines on Boost.Beast).
//   bench_ws view    --url ws://127.0.0.1:P/ws/watch/alice --n 1000 --duration 10 [--dump F]
//   bench_ws publish --url ws://127.0.0.1:P/ws/ingest --bearer dsk_... --fps 10 --file a.jpg
//                    [--meta | --inline] [--duration 20]
//   bench_ws echo-worker --url ws://127.0.0.1:P/ws/worker --bearer dsw_... --duration 10
//   bench_ws make-jpeg --out f.jpg --kb 50
// Results are printed as one JSON object on stdout; `view` prints "READY ..." first once every
// connection is open (the drivers sample server memory then). `view` reads both frame formats
// of docs/protocol.md: a "frame" text then a binary JPEG, or one inline binary message (a
// 4-byte big-endian length, the frame JSON, the JPEG); a JPEG starts 0xFF, a prefix 0x00.
#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>
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

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Args {
  std::string mode;
  std::string url;
  std::string bearer;
  std::vector<std::string> files;
  std::string out;
  std::string dump;
  int n = 1;
  double fps = 10;
  double duration = 10;
  double warmup = 1;
  int kb = 50;
  int parallel = 16;
  bool meta = false;
  bool inline_meta = false;  // publish: the meta inline in each binary message
};

struct Url {
  std::string host;
  std::string port;
  std::string target;
};

Url parse_url(const std::string& url) {
  std::string rest = url;
  if (rest.rfind("ws://", 0) == 0) rest = rest.substr(5);
  auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  Url u;
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  auto colon = hostport.rfind(':');
  u.host = hostport.substr(0, colon);
  u.port = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
  return u;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The integer after `"key":` in a small JSON text, or -1 (cheaper than a full parse per frame).
int64_t json_int(std::string_view text, std::string_view key) {
  std::string needle = "\"" + std::string(key) + "\":";
  auto pos = text.find(needle);
  if (pos == std::string_view::npos) return -1;
  return std::strtoll(text.data() + pos + needle.size(), nullptr, 10);
}

double percentile(std::vector<int64_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto idx = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return static_cast<double>(v[std::min(idx, v.size() - 1)]);
}

asio::awaitable<std::unique_ptr<Ws>> connect_ws(const Url& u, const std::string& bearer) {
  auto ex = co_await asio::this_coro::executor;
  auto ws = std::make_unique<Ws>(ex);
  tcp::endpoint ep(asio::ip::make_address(u.host), static_cast<unsigned short>(std::stoi(u.port)));
  beast::get_lowest_layer(*ws).expires_after(std::chrono::seconds(30));
  co_await beast::get_lowest_layer(*ws).async_connect(ep, use_awaitable);
  // Without this a text message followed by a small binary one waits on a delayed ACK.
  beast::get_lowest_layer(*ws).socket().set_option(tcp::no_delay(true));
  beast::get_lowest_layer(*ws).expires_never();
  ws->set_option(websocket::stream_base::decorator([bearer](websocket::request_type& req) {
    if (!bearer.empty()) req.set(beast::http::field::authorization, "Bearer " + bearer);
  }));
  ws->set_option(websocket::stream_base::timeout{std::chrono::seconds(30),
                                                 websocket::stream_base::none(), false});
  ws->read_message_max(64u << 20);
  co_await ws->async_handshake(u.host + ":" + u.port, u.target, use_awaitable);
  co_return ws;
}

// ---- view: many viewers -------------------------------------------------------------------
struct ViewState {
  Args args;
  Url url;
  std::vector<uint64_t> frames;
  std::uint64_t bytes = 0;  // every message's payload, text and binary, while measuring
  std::vector<int64_t> latencies;
  int connected = 0;
  int failed = 0;
  int closed = 0;
  bool measuring = false;
  FILE* dump = nullptr;
  std::string first_error;
};

asio::awaitable<void> viewer_read(std::shared_ptr<ViewState> st, std::unique_ptr<Ws> ws, size_t i) {
  beast::flat_buffer buf;
  int64_t ts = -1, captured = -1, seq = -1;
  try {
    for (;;) {
      co_await ws->async_read(buf, use_awaitable);
      auto data = buf.cdata();
      std::string_view msg(static_cast<const char*>(data.data()), data.size());
      if (st->measuring) st->bytes += msg.size();
      auto read_meta = [&](std::string_view text) {
        // A JPEG's header says "frame", an H.264 unit's (?video=h264) "video".
        if (text.find("\"frame\"") == std::string_view::npos &&
            text.find("\"video\"") == std::string_view::npos)
          return;
        ts = json_int(text, "processed_ms");
        if (ts < 0) ts = json_int(text, "sent_ms");
        captured = json_int(text, "captured_ms");
        seq = json_int(text, "seq");
      };
      if (ws->got_text()) {
        read_meta(msg);
      } else {
        if (msg.size() >= 4 && static_cast<unsigned char>(msg[0]) != 0xFF) {
          auto n = (static_cast<uint32_t>(static_cast<unsigned char>(msg[0])) << 24) |
                   (static_cast<uint32_t>(static_cast<unsigned char>(msg[1])) << 16) |
                   (static_cast<uint32_t>(static_cast<unsigned char>(msg[2])) << 8) |
                   static_cast<uint32_t>(static_cast<unsigned char>(msg[3]));
          if (n <= msg.size() - 4) read_meta(msg.substr(4, n));
        }
        int64_t now = now_ms();
        if (st->measuring) {
          ++st->frames[i];
          if (ts > 0) st->latencies.push_back(now - ts);
        }
        if (st->dump && i == 0)
          std::fprintf(st->dump, "%lld %lld %lld %lld %zu\n", static_cast<long long>(now),
                       static_cast<long long>(captured), static_cast<long long>(ts),
                       static_cast<long long>(seq), buf.size());
        ts = -1;
      }
      buf.consume(buf.size());
    }
  } catch (const std::exception&) {
    ++st->closed;
  }
}

asio::awaitable<void> connector(std::shared_ptr<ViewState> st, int start) {
  for (int i = start; i < st->args.n; i += st->args.parallel) {
    try {
      auto ws = co_await connect_ws(st->url, st->args.bearer);
      ++st->connected;
      asio::co_spawn(co_await asio::this_coro::executor,
                     viewer_read(st, std::move(ws), static_cast<size_t>(i)), asio::detached);
    } catch (const std::exception& e) {
      if (st->first_error.empty()) st->first_error = e.what();
      ++st->failed;
    }
  }
}

asio::awaitable<void> view_main(std::shared_ptr<ViewState> st) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  double t0 = now_s();
  for (int k = 0; k < std::min(st->args.parallel, st->args.n); ++k)
    asio::co_spawn(ex, connector(st, k), asio::detached);
  while (st->connected + st->failed < st->args.n && now_s() - t0 < 120) {
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(use_awaitable);
  }
  double connect_s = now_s() - t0;
  std::printf("READY connected=%d failed=%d connect_s=%.2f\n", st->connected, st->failed,
              connect_s);
  std::fflush(stdout);
  timer.expires_after(std::chrono::milliseconds(static_cast<int>(st->args.warmup * 1000)));
  co_await timer.async_wait(use_awaitable);
  st->measuring = true;
  double w0 = now_s();
  timer.expires_after(std::chrono::milliseconds(static_cast<int>(st->args.duration * 1000)));
  co_await timer.async_wait(use_awaitable);
  st->measuring = false;
  double window = now_s() - w0;

  std::vector<double> fps;
  uint64_t total = 0;
  for (int i = 0; i < st->args.n; ++i) {
    fps.push_back(static_cast<double>(st->frames[static_cast<size_t>(i)]) / window);
    total += st->frames[static_cast<size_t>(i)];
  }
  std::sort(fps.begin(), fps.end());
  double mean = 0;
  for (double f : fps) mean += f;
  mean = fps.empty() ? 0 : mean / static_cast<double>(fps.size());
  nlohmann::json out = {
      {"viewers", st->args.n},
      {"connected", st->connected},
      {"failed", st->failed},
      {"closed", st->closed},
      {"connect_s", connect_s},
      {"window_s", window},
      {"frames_total", total},
      {"bytes_per_viewer_s",
       st->args.n ? static_cast<double>(st->bytes) / window / st->args.n : 0.0},
      {"fps_mean", mean},
      {"fps_p10", fps.empty() ? 0 : fps[fps.size() / 10]},
      {"fps_min", fps.empty() ? 0 : fps.front()},
      {"latency_samples", st->latencies.size()},
      {"latency_p50_ms", percentile(st->latencies, 50)},
      {"latency_p99_ms", percentile(st->latencies, 99)},
      {"latency_max_ms", percentile(st->latencies, 100)},
      {"first_error", st->first_error},
  };
  std::printf("%s\n", out.dump().c_str());
  std::fflush(stdout);
  if (st->dump) std::fclose(st->dump);
  std::_Exit(0);  // skip closing thousands of sockets one by one
}

// ---- publish: one sender ----------------------------------------------------------------
struct PubState {
  uint64_t sent = 0;
  uint64_t received = 0;
  uint64_t texts = 0;
  std::string close_reason;
};

asio::awaitable<void> pub_reader(std::shared_ptr<PubState> st, Ws* ws) {
  beast::flat_buffer buf;
  try {
    for (;;) {
      co_await ws->async_read(buf, use_awaitable);
      if (ws->got_binary())
        ++st->received;
      else
        ++st->texts;
      buf.consume(buf.size());
    }
  } catch (const std::exception& e) {
    st->close_reason = e.what();
  }
}

asio::awaitable<void> publish_main(Args args) {
  auto ex = co_await asio::this_coro::executor;
  std::vector<std::string> frames;
  for (auto& f : args.files) frames.push_back(read_file(f));
  auto st = std::make_shared<PubState>();
  auto ws = co_await connect_ws(parse_url(args.url), args.bearer);
  asio::co_spawn(ex, pub_reader(st, ws.get()), asio::detached);
  asio::steady_timer timer(ex);
  auto start = std::chrono::steady_clock::now();
  auto end = start + std::chrono::milliseconds(static_cast<int64_t>(args.duration * 1000));
  auto next = start;
  auto interval = std::chrono::nanoseconds(args.fps > 0 ? static_cast<int64_t>(1e9 / args.fps) : 0);
  try {
    while (std::chrono::steady_clock::now() < end) {
      if (args.meta) {
        ws->text(true);
        std::string meta = R"({"type":"frame","sent_ms":)" + std::to_string(now_ms()) + "}";
        co_await ws->async_write(asio::buffer(meta), use_awaitable);
      }
      ws->binary(true);
      const std::string& f = frames[st->sent % frames.size()];
      if (args.inline_meta) {
        // The same shape and size as the server's frame header, so the relay under test
        // moves as many bytes per frame as DreamStream does.
        auto t = std::to_string(now_ms());
        std::string meta = R"({"type":"frame","seq":)" + std::to_string(st->sent + 1) +
                           R"(,"captured_ms":)" + t + R"(,"processed_ms":)" + t +
                           R"(,"timings":{"decode_ms":0,"encode_ms":0,"infer_ms":0}})";
        auto n = static_cast<uint32_t>(meta.size());
        std::string msg = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                           static_cast<char>(n >> 8), static_cast<char>(n)};
        msg += meta;
        msg += f;
        co_await ws->async_write(asio::buffer(msg), use_awaitable);
      } else {
        co_await ws->async_write(asio::buffer(f), use_awaitable);
      }
      ++st->sent;
      if (args.fps > 0) {
        next += interval;
        timer.expires_at(next);
        co_await timer.async_wait(use_awaitable);
      }
    }
  } catch (const std::exception& e) {
    st->close_reason = e.what();
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  nlohmann::json out = {{"sent", st->sent},
                        {"received", st->received},
                        {"texts", st->texts},
                        {"seconds", secs},
                        {"sent_per_s", static_cast<double>(st->sent) / secs},
                        {"received_per_s", static_cast<double>(st->received) / secs},
                        {"error", st->close_reason}};
  std::printf("%s\n", out.dump().c_str());
  std::fflush(stdout);
  std::_Exit(0);
}

// ---- echo-worker: a model worker that returns its input at once ---------------------------
asio::awaitable<void> echo_worker_main(Args args) {
  auto ws = co_await connect_ws(parse_url(args.url), args.bearer);
  ws->text(true);
  std::string hello = R"({"type":"hello","name":"bench-echo","backend":"echo","protocol":1})";
  co_await ws->async_write(asio::buffer(hello), use_awaitable);
  beast::flat_buffer buf;
  uint64_t jobs = 0;
  double first = 0, last = 0;
  double t0 = now_s();
  std::string job_id;
  std::string error;
  try {
    // The read loop ends when the server closes us (the driver stops the server) or at
    // --duration, checked between messages.
    while (now_s() - t0 < args.duration) {
      co_await ws->async_read(buf, use_awaitable);
      if (ws->got_text()) {
        auto data = buf.cdata();
        std::string text(static_cast<const char*>(data.data()), data.size());
        auto j = nlohmann::json::parse(text, nullptr, false);
        if (j.is_object() && j.value("type", "") == "job") job_id = j.value("job_id", "");
      } else if (!job_id.empty()) {
        std::string image(static_cast<const char*>(buf.cdata().data()), buf.size());
        nlohmann::json result = {
            {"type", "result"},
            {"job_id", job_id},
            {"timings", {{"decode_ms", 0}, {"infer_ms", 0}, {"encode_ms", 0}}}};
        std::string text = result.dump();
        ws->text(true);
        co_await ws->async_write(asio::buffer(text), use_awaitable);
        ws->binary(true);
        co_await ws->async_write(asio::buffer(image), use_awaitable);
        job_id.clear();
        ++jobs;
        last = now_s();
        if (jobs == 1) first = last;
      }
      buf.consume(buf.size());
    }
  } catch (const std::exception& e) {
    error = e.what();
  }
  double span = last - first;
  nlohmann::json out = {{"jobs", jobs},
                        {"span_s", span},
                        {"jobs_per_s", span > 0 ? static_cast<double>(jobs - 1) / span : 0.0},
                        {"error", error}};
  std::printf("%s\n", out.dump().c_str());
  std::fflush(stdout);
  std::_Exit(0);
}

// ---- make-jpeg: a camera-like frame of about --kb kilobytes -------------------------------
int make_jpeg(const Args& args) {
  cv::Mat img(480, 640, CV_8UC3);
  cv::RNG rng(1234);
  rng.fill(img, cv::RNG::UNIFORM, 0, 255);
  cv::GaussianBlur(img, img, cv::Size(0, 0), 1.5);
  for (int i = 0; i < 40; ++i)
    cv::circle(img, {rng.uniform(0, 640), rng.uniform(0, 480)}, rng.uniform(10, 120),
               cv::Scalar(rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255)), -1);
  std::vector<uchar> best;
  for (int q = 5; q <= 100; q += 1) {
    std::vector<uchar> out;
    cv::imencode(".jpg", img, out, {cv::IMWRITE_JPEG_QUALITY, q});
    if (best.empty() || std::abs(static_cast<long>(out.size()) - args.kb * 1024L) <
                            std::abs(static_cast<long>(best.size()) - args.kb * 1024L))
      best = out;
  }
  std::ofstream(args.out, std::ios::binary)
      .write(reinterpret_cast<const char*>(best.data()), static_cast<std::streamsize>(best.size()));
  std::printf("{\"bytes\":%zu}\n", best.size());
  return 0;
}

Args parse_args(int argc, char** argv) {
  Args a;
  if (argc < 2) throw std::runtime_error("usage: bench_ws view|publish|echo-worker|make-jpeg ...");
  a.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error("missing value for " + k);
      return argv[++i];
    };
    if (k == "--url")
      a.url = val();
    else if (k == "--bearer")
      a.bearer = val();
    else if (k == "--file")
      a.files.push_back(val());
    else if (k == "--out")
      a.out = val();
    else if (k == "--dump")
      a.dump = val();
    else if (k == "--n")
      a.n = std::stoi(val());
    else if (k == "--fps")
      a.fps = std::stod(val());
    else if (k == "--duration")
      a.duration = std::stod(val());
    else if (k == "--warmup")
      a.warmup = std::stod(val());
    else if (k == "--kb")
      a.kb = std::stoi(val());
    else if (k == "--parallel")
      a.parallel = std::max(1, std::stoi(val()));
    else if (k == "--meta")
      a.meta = true;
    else if (k == "--inline")
      a.inline_meta = true;
    else
      throw std::runtime_error("unknown option " + k);
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Args args = parse_args(argc, argv);
    if (args.mode == "make-jpeg") return make_jpeg(args);
    asio::io_context ioc(1);
    if (args.mode == "view") {
      auto st = std::make_shared<ViewState>();
      st->args = args;
      st->url = parse_url(args.url);
      st->frames.assign(static_cast<size_t>(args.n), 0);
      if (!args.dump.empty()) st->dump = std::fopen(args.dump.c_str(), "w");
      asio::co_spawn(ioc, view_main(st), asio::detached);
    } else if (args.mode == "publish") {
      if (args.files.empty()) throw std::runtime_error("publish needs --file");
      asio::co_spawn(ioc, publish_main(args), [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
    } else if (args.mode == "echo-worker") {
      asio::co_spawn(ioc, echo_worker_main(args), [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
    } else {
      throw std::runtime_error("unknown mode " + args.mode);
    }
    ioc.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_ws: %s\n", e.what());
    return 1;
  }
  return 0;
}
