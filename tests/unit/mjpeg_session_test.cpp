// MjpegSession (net/mjpeg_session.hpp) over real loopback sockets: how a frame reaches the MJPEG
// viewers of one event loop.
#include "net/mjpeg_session.hpp"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <string>
#include <thread>

#include "net/ready_queue.hpp"

namespace ds::net {
namespace {

live::Bytes bytes(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

// Runs what the loop has ready until nothing is left (the sockets' reads stay pending).
void settle(asio::io_context& loop) {
  for (int i = 0; i < 50; ++i) {
    if (loop.poll() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// The body of the next multipart part a client reads.
std::string read_part(tcp::socket& client, asio::streambuf& buf) {
  asio::read_until(client, buf, "--dreamstreamframe\r\n");
  std::string text(asio::buffers_begin(buf.data()), asio::buffers_end(buf.data()));
  buf.consume(text.find("--dreamstreamframe\r\n") + 20);
  asio::read_until(client, buf, "\r\n\r\n");
  std::string headers(asio::buffers_begin(buf.data()), asio::buffers_end(buf.data()));
  auto end = headers.find("\r\n\r\n");
  auto at = headers.find("Content-Length: ");
  EXPECT_LT(at, end);
  auto length = std::stoul(headers.substr(at + 16, end - at - 16));
  buf.consume(end + 4);
  if (buf.size() < length) asio::read(client, buf, asio::transfer_exactly(length - buf.size()));
  std::string body(asio::buffers_begin(buf.data()),
                   asio::buffers_begin(buf.data()) + static_cast<std::ptrdiff_t>(length));
  buf.consume(length);
  return body;
}

// A frame for every MJPEG viewer of a loop wakes the loop once, through its ReadyQueue, not once
// per viewer; a newer frame before that pass replaces the waiting one and adds no wake-up; every
// viewer then gets the newest frame whole.
TEST(MjpegSession, AFrameWakesALoopsViewersInOnePassAndEachGetsTheNewest) {
  constexpr int kViewers = 3;
  asio::io_context loop{1};
  asio::io_context client_ctx;
  tcp::acceptor acceptor(client_ctx, {asio::ip::make_address("127.0.0.1"), 0});
  std::vector<tcp::socket> clients;
  std::vector<std::shared_ptr<MjpegSession>> sessions;
  for (int i = 0; i < kViewers; ++i) {
    clients.emplace_back(client_ctx);
    clients.back().connect(acceptor.local_endpoint());
    Socket accepted(loop);
    acceptor.accept(accepted);
    sessions.push_back(
        std::make_shared<MjpegSession>(Connection{Stream(std::move(accepted)), nullptr},
                                       std::chrono::seconds(5), [](MjpegSession&) {}));
    sessions.back()->start(11);
  }
  settle(loop);  // the response heads are out
  auto& ready = asio::use_service<ReadyQueue>(loop);
  ASSERT_EQ(ready.pending(), 0u);

  for (auto& s : sessions) s->send_frame(nullptr, bytes("old frame"), true);
  for (auto& s : sessions) s->send_frame(nullptr, bytes("new frame"), true);
  EXPECT_EQ(ready.pending(), static_cast<std::size_t>(kViewers)) << "one wake-up per viewer";
  // One handler wakes them all and starts their writes.
  EXPECT_EQ(loop.poll_one(), 1u);
  EXPECT_EQ(ready.pending(), 0u);

  std::thread run([&] { settle(loop); });
  for (auto& c : clients) {
    asio::streambuf buf;
    EXPECT_EQ(read_part(c, buf), "new frame");
  }
  run.join();
  for (auto& s : sessions) s->close(1000, "");
  settle(loop);
}

}  // namespace
}  // namespace ds::net
