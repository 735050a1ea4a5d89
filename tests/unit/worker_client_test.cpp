// The worker process against a scripted /ws/worker server on a real loopback socket.
#include "worker/worker_client.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <future>
#include <sstream>
#include <thread>

#include "line_moves.hpp"
#include "worker/backend.hpp"
#include "worker_fake_server.hpp"
#include "worker_test_images.hpp"

namespace ds::worker {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using testing::FakeServer;
using testing::Message;
using testing::read_message;
using testing::read_until_closed;
using testing::send_binary;
using testing::send_text;

constexpr const char* kToken = "dsw_test_token_do_not_log";

// Captures every log line for the test's lifetime, at info level whatever earlier tests set.
class LogCapture {
 public:
  LogCapture()
      : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)),
        level_(spdlog::default_logger()->level()) {
    spdlog::default_logger()->sinks().push_back(sink_);
    spdlog::set_level(spdlog::level::info);
  }
  ~LogCapture() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
    spdlog::set_level(level_);
  }
  std::string text() {
    sink_->flush();
    return out_.str();
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
  spdlog::level::level_enum level_;
};

WorkerOptions options_for(const std::string& url) {
  WorkerOptions o;
  o.server = url;
  o.token = kToken;
  o.name = "test-worker";
  o.handle_signals = false;
  o.initial_backoff_ms = 20;
  o.max_backoff_ms = 200;
  return o;
}

// Runs the client on its own thread; the test thread plays the server.
struct RunningWorker {
  explicit RunningWorker(WorkerOptions o, int simulate_ms = 0, int simulate_batch_extra_ms = 0)
      : client(std::move(o), make_cpu_backend(simulate_ms, simulate_batch_extra_ms)),
        exit_code(std::async(std::launch::async, [this] { return client.run(); })) {}
  ~RunningWorker() {
    client.stop();
    if (exit_code.valid()) exit_code.wait();
  }
  int wait(std::chrono::seconds limit = 10s) {
    if (exit_code.wait_for(limit) != std::future_status::ready) {
      ADD_FAILURE() << "worker did not stop";
      client.stop();
    }
    return exit_code.get();
  }
  WorkerClient client;
  std::future<int> exit_code;
};

json job_header(const std::string& id, const json& params) {
  return {{"type", "job"},   {"job_id", id},        {"stream", "alice"},
          {"seq", 42},       {"captured_ms", 1000}, {"deadline_ms", 99999999999},
          {"params", params}};
}

TEST(WorkerClient, RegistersAndAnswersJobsWithTheProcessedJpeg) {
  LogCapture logs;
  FakeServer server;
  WorkerOptions o = options_for(server.url());
  o.max_jobs = 2;
  RunningWorker worker(o);

  testing::http::request<testing::http::string_body> request;
  auto ws = server.accept(request);
  EXPECT_EQ(request.target(), "/ws/worker");
  EXPECT_EQ(request[testing::http::field::authorization], std::string("Bearer ") + kToken);

  Message hello = read_message(*ws);
  ASSERT_FALSE(hello.binary);
  EXPECT_EQ(hello.json()["type"], "hello");
  EXPECT_EQ(hello.json()["name"], "test-worker");
  EXPECT_EQ(hello.json()["backend"], "cpu");
  EXPECT_EQ(hello.json()["protocol"], 1);

  send_text(*ws, {{"type", "welcome"}, {"worker_id", "w5"}, {"job_timeout_ms", 20000}});
  // Noise the worker must shrug off: an unknown type and an image without a job.
  send_text(*ws, {{"type", "something_new"}});
  send_binary(*ws, "stray bytes");

  std::string input = testing::encode_jpeg(testing::test_scene(320, 240));
  json params = {{"prompt", "thermal camera"}, {"strength", 0.8}, {"seed", 3}, {"steps", 2}};
  send_text(*ws, job_header("j1", params));
  send_binary(*ws, input);

  Message result = read_message(*ws);
  ASSERT_FALSE(result.binary);
  json header = result.json();
  EXPECT_EQ(header["type"], "result");
  EXPECT_EQ(header["job_id"], "j1");
  EXPECT_TRUE(header["timings"]["decode_ms"].is_number());
  EXPECT_TRUE(header["timings"]["infer_ms"].is_number());
  EXPECT_TRUE(header["timings"]["encode_ms"].is_number());
  Message image = read_message(*ws);
  ASSERT_TRUE(image.binary);
  auto expected = make_cpu_backend()->process(input, params_from_json(params));
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(image.data, *expected) << "the worker applies the job's params";

  send_text(*ws, job_header("j2", params));
  send_binary(*ws, "this is not a jpeg");
  Message error = read_message(*ws);
  ASSERT_FALSE(error.binary);
  EXPECT_EQ(error.json()["type"], "error");
  EXPECT_EQ(error.json()["job_id"], "j2");
  EXPECT_EQ(error.json()["code"], "bad_frame");

  // Two jobs answered: max_jobs makes it close normally and exit 0.
  EXPECT_EQ(read_until_closed(*ws), 1000);
  EXPECT_EQ(worker.wait(), WorkerClient::kExitOk);
  auto stats = worker.client.stats();
  EXPECT_EQ(stats.connects, 1);
  EXPECT_EQ(stats.jobs_done, 1);
  EXPECT_EQ(stats.jobs_failed, 1);
  EXPECT_EQ(logs.text().find(kToken), std::string::npos) << "the token must never be logged";
  EXPECT_NE(logs.text().find("event=registered"), std::string::npos);
}

TEST(WorkerClient, KeepsRetryingWhileTheServerIsDownAndReconnectsAfterADrop) {
  unsigned short port = 0;
  {
    FakeServer probe;  // find a free port, then free it: the server is "down"
    port = probe.port();
  }
  testing::LineMoves moves;
  WorkerOptions o = options_for("ws://127.0.0.1:" + std::to_string(port));
  o.on_line_state = moves.observer();
  RunningWorker worker(o);
  ASSERT_TRUE(moves.wait_for(LineState::kBackoff, 3));  // several refused attempts
  EXPECT_EQ(worker.client.stats().connects, 0);

  FakeServer server(port);
  testing::http::request<testing::http::string_body> request;
  {
    auto ws = server.accept(request);
    EXPECT_EQ(read_message(*ws).json()["type"], "hello");
    send_text(*ws, {{"type", "welcome"}, {"worker_id", "w1"}});
    ws->next_layer().close();  // the server dies without a close frame
  }
  {
    auto ws = server.accept(request);  // backoff was reset by the welcome: quick return
    EXPECT_EQ(read_message(*ws).json()["type"], "hello");
    ws->close(testing::websocket::close_code::going_away);  // and now a clean restart
  }
  auto ws = server.accept(request);
  EXPECT_EQ(read_message(*ws).json()["type"], "hello");
  send_text(*ws, {{"type", "welcome"}, {"worker_id", "w3"}});
  send_text(*ws, job_header("j9", {{"prompt", "pixel art"}}));
  send_binary(*ws, testing::encode_jpeg(testing::test_scene(64, 48)));
  EXPECT_EQ(read_message(*ws).json()["job_id"], "j9");
  EXPECT_TRUE(read_message(*ws).binary);
  EXPECT_EQ(worker.client.stats().connects, 3);

  worker.client.stop();
  EXPECT_EQ(read_until_closed(*ws), 1000);
  EXPECT_EQ(worker.wait(), WorkerClient::kExitOk);
  // After the refused attempts (connecting, backoff, ...): three connections, the first two
  // lost and retried, the third closed by us.
  using S = LineState;
  auto seen = moves.seen();
  auto first_open = std::find(seen.begin(), seen.end(), S::kOpen);
  ASSERT_NE(first_open, seen.end());
  EXPECT_TRUE(std::all_of(seen.begin(), first_open,
                          [](S s) { return s == S::kBackoff || s == S::kConnecting; }));
  EXPECT_EQ(std::vector<S>(first_open, seen.end()),
            (std::vector<S>{S::kOpen, S::kBackoff, S::kConnecting, S::kOpen, S::kBackoff,
                            S::kConnecting, S::kOpen, S::kClosing, S::kClosed}));
}

TEST(WorkerClient, ARejectedTokenEndsTheWorker) {
  LogCapture logs;
  FakeServer server;
  testing::LineMoves moves;
  WorkerOptions o = options_for(server.url());
  o.on_line_state = moves.observer();
  RunningWorker worker(o);
  auto request = server.refuse(401, "unauthorized", "unknown worker token");
  EXPECT_EQ(request[testing::http::field::authorization], std::string("Bearer ") + kToken);
  EXPECT_EQ(worker.wait(), WorkerClient::kExitTokenRejected);
  EXPECT_EQ(moves.seen(), std::vector<LineState>{LineState::kClosed}) << "no retry";
  EXPECT_NE(logs.text().find("unknown worker token"), std::string::npos);
  EXPECT_EQ(logs.text().find(kToken), std::string::npos);
}

TEST(WorkerClient, ServerErrorsAndAJobWhileBusyAreHandled) {
  FakeServer server;
  RunningWorker worker(options_for(server.url()), /*simulate_ms=*/300);
  testing::http::request<testing::http::string_body> request;
  auto ws = server.accept(request);
  read_message(*ws);
  send_text(*ws, {{"type", "welcome"}, {"worker_id", "w1"}});
  send_text(*ws, {{"type", "error"}, {"code", "unknown_job"}});
  std::string jpeg = testing::encode_jpeg(testing::test_scene(64, 48));
  send_text(*ws, job_header("slow", {}));
  send_binary(*ws, jpeg);
  // With one slot, a second job before the first is answered is refused, not queued.
  send_text(*ws, job_header("extra", {}));
  send_binary(*ws, jpeg);
  Message busy = read_message(*ws);
  EXPECT_EQ(busy.json()["type"], "error");
  EXPECT_EQ(busy.json()["job_id"], "extra");
  EXPECT_EQ(busy.json()["code"], "busy");
  Message result = read_message(*ws);
  EXPECT_EQ(result.json()["job_id"], "slow");
  EXPECT_GE(result.json()["timings"]["infer_ms"].get<double>(), 300.0);
  EXPECT_TRUE(read_message(*ws).binary);
}

// A worker with two slots, connected and welcomed; returns the server's socket.
std::unique_ptr<testing::ServerSocket> accept_welcomed(FakeServer& server, json* hello = nullptr) {
  testing::http::request<testing::http::string_body> request;
  auto ws = server.accept(request);
  Message h = read_message(*ws);
  if (hello) *hello = h.json();
  send_text(*ws, {{"type", "welcome"}, {"worker_id", "w1"}, {"slots", 2}, {"max_batch", 4}});
  return ws;
}

TEST(WorkerClient, WithTwoSlotsItHoldsJobsInOrderAndDropsACancelledOneUnstarted) {
  FakeServer server;
  WorkerOptions o = options_for(server.url());
  o.slots = 2;
  RunningWorker worker(o, /*simulate_ms=*/300);
  json hello;
  auto ws = accept_welcomed(server, &hello);
  EXPECT_EQ(hello["slots"], 2);
  EXPECT_FALSE(hello.contains("max_batch"));

  std::string jpeg = testing::encode_jpeg(testing::test_scene(64, 48));
  for (const char* id : {"j1", "j2", "j3"}) {  // j3: one more, as when a cancel crosses a start
    send_text(*ws, job_header(id, {}));
    send_binary(*ws, jpeg);
  }
  send_text(*ws, {{"type", "cancel"}, {"job_id", "j2"}});   // waits: dropped
  send_text(*ws, {{"type", "cancel"}, {"job_id", "j1"}});   // started: answered as usual
  send_text(*ws, {{"type", "cancel"}, {"job_id", "j77"}});  // unknown: ignored
  Message cancelled = read_message(*ws);
  EXPECT_EQ(cancelled.json(), (json{{"type", "cancelled"}, {"job_id", "j2"}}));
  EXPECT_EQ(read_message(*ws).json()["job_id"], "j1");
  EXPECT_TRUE(read_message(*ws).binary);
  EXPECT_EQ(read_message(*ws).json()["job_id"], "j3");
  EXPECT_TRUE(read_message(*ws).binary);
  auto stats = worker.client.stats();
  EXPECT_EQ(stats.jobs_done, 2);
  EXPECT_EQ(stats.jobs_cancelled, 1);
}

TEST(WorkerClient, WithTwoSlotsAFourthMessageIsRefusedBusy) {
  FakeServer server;
  WorkerOptions o = options_for(server.url());
  o.slots = 2;
  RunningWorker worker(o, /*simulate_ms=*/300);
  auto ws = accept_welcomed(server);
  std::string jpeg = testing::encode_jpeg(testing::test_scene(64, 48));
  for (const char* id : {"j1", "j2", "j3", "j4"}) {
    send_text(*ws, job_header(id, {}));
    send_binary(*ws, jpeg);
  }
  Message busy = read_message(*ws);
  EXPECT_EQ(busy.json()["job_id"], "j4");
  EXPECT_EQ(busy.json()["code"], "busy");
  for (const char* id : {"j1", "j2", "j3"}) {
    EXPECT_EQ(read_message(*ws).json()["job_id"], id);
    EXPECT_TRUE(read_message(*ws).binary);
  }
  EXPECT_EQ(worker.client.stats().jobs_refused, 1);
}

TEST(WorkerClient, ABatchIsOneModelCallAnsweredJobByJob) {
  FakeServer server;
  WorkerOptions o = options_for(server.url());
  o.max_batch = 4;
  // A call costs 300 ms, far from two calls (600), for bounds that hold on a loaded machine.
  RunningWorker worker(o, /*simulate_ms=*/300, /*simulate_batch_extra_ms=*/50);
  json hello;
  auto ws = accept_welcomed(server, &hello);
  EXPECT_EQ(hello["max_batch"], 4);
  EXPECT_FALSE(hello.contains("slots"));

  std::string input = testing::encode_jpeg(testing::test_scene(64, 48));
  json thermal = {{"prompt", "thermal camera"}, {"strength", 1.0}};
  json jobs = json::array();
  for (const char* id : {"j1", "j2", "j3"}) {
    json j = job_header(id, std::string(id) == "j3" ? thermal : json::object());
    j.erase("type");
    j["stream"] = std::string("s-") + id;
    jobs.push_back(j);
  }
  send_text(*ws, {{"type", "batch"}, {"jobs", jobs}});
  send_binary(*ws, input);
  send_binary(*ws, "not a jpeg");
  send_binary(*ws, input);

  Message first = read_message(*ws);
  EXPECT_EQ(first.json()["job_id"], "j1");
  EXPECT_EQ(first.json()["timings"]["batch"], 3);
  // One call: 300 ms plus 50 for the one other decodable frame (not 2 x 300).
  EXPECT_GE(first.json()["timings"]["infer_ms"].get<double>(), 350.0);
  EXPECT_LT(first.json()["timings"]["infer_ms"].get<double>(), 550.0);
  EXPECT_TRUE(read_message(*ws).binary);
  Message failed = read_message(*ws);
  EXPECT_EQ(failed.json()["type"], "error");
  EXPECT_EQ(failed.json()["job_id"], "j2");
  EXPECT_EQ(failed.json()["code"], "bad_frame");
  EXPECT_EQ(read_message(*ws).json()["job_id"], "j3");
  Message image = read_message(*ws);
  ASSERT_TRUE(image.binary);
  EXPECT_EQ(image.data, *make_cpu_backend()->process(input, params_from_json(thermal)))
      << "each job keeps its own params";
  auto stats = worker.client.stats();
  EXPECT_EQ(stats.model_calls, 1);
  EXPECT_EQ(stats.jobs_done, 2);
  EXPECT_EQ(stats.jobs_failed, 1);
}

TEST(WorkerClient, StopClosesPromptlyEvenMidJob) {
  FakeServer server;
  RunningWorker worker(options_for(server.url()), /*simulate_ms=*/1500);
  testing::http::request<testing::http::string_body> request;
  auto ws = server.accept(request);
  read_message(*ws);
  send_text(*ws, {{"type", "welcome"}, {"worker_id", "w1"}});
  send_text(*ws, job_header("j1", {}));
  send_binary(*ws, testing::encode_jpeg(testing::test_scene(64, 48)));
  std::this_thread::sleep_for(100ms);
  auto asked = std::chrono::steady_clock::now();
  worker.client.stop();
  EXPECT_EQ(read_until_closed(*ws), 1000);  // no result first: the job is abandoned
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 1s);
  EXPECT_EQ(worker.wait(), WorkerClient::kExitOk);
  EXPECT_EQ(worker.client.stats().jobs_dropped, 1);
}

TEST(WorkerClient, ABadServerUrlIsAUsageError) {
  WorkerOptions o = options_for("ftp://example.com");
  WorkerClient client(o, make_cpu_backend());
  EXPECT_EQ(client.run(), WorkerClient::kExitBadUrl);
}

}  // namespace
}  // namespace ds::worker
