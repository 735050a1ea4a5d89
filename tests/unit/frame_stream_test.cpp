// FrameStream (net/frame_stream.hpp) over real loopback sockets, read by Beast's WebSocket client:
// messages written straight to the socket arrive whole and never interleave with Beast's own
// writes, also when the socket is full.
#include "net/frame_stream.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/websocket.hpp>
#include <future>
#include <string>
#include <thread>

namespace ds::net {
namespace {

namespace websocket = beast::websocket;
using ClientWs = websocket::stream<tcp::socket>;

// A server WebSocket over FrameStream on its own loop, and a connected Beast client.
struct Pair {
  asio::io_context loop{1};
  std::optional<websocket::stream<FrameStream>> server;
  asio::io_context client_ctx;
  ClientWs client{client_ctx};
  std::thread thread;

  // small: tiny socket buffers on both sides, so a large message cannot be written at once.
  explicit Pair(bool small) {
    tcp::acceptor acceptor(client_ctx, {asio::ip::make_address("127.0.0.1"), 0});
    auto& sock = client.next_layer();
    sock.open(tcp::v4());
    if (small) sock.set_option(asio::socket_base::receive_buffer_size(4096));
    sock.connect(acceptor.local_endpoint());
    Socket accepted(loop);
    acceptor.accept(accepted);
    if (small) accepted.set_option(asio::socket_base::send_buffer_size(4096));
    server.emplace(Stream(std::move(accepted)));
    server->auto_fragment(false);
    std::promise<beast::error_code> accepted_ws;
    server->async_accept([&](beast::error_code ec) { accepted_ws.set_value(ec); });
    thread = std::thread([this] {
      auto guard = asio::make_work_guard(loop);
      loop.run();
    });
    client.handshake("127.0.0.1", "/");
    EXPECT_FALSE(accepted_ws.get_future().get());
  }
  ~Pair() {
    std::promise<void> reset;
    asio::post(loop, [&] {
      server.reset();
      reset.set_value();
    });
    reset.get_future().wait();
    loop.stop();
    thread.join();
  }

  // Runs fn on the server's loop and returns what it returns.
  template <class Fn>
  auto on_loop(Fn fn) {
    std::promise<decltype(fn())> result;
    asio::post(loop, [&] { result.set_value(fn()); });
    return result.get_future().get();
  }

  std::string read(bool* binary = nullptr) {
    beast::flat_buffer buf;
    client.read(buf);
    if (binary) *binary = client.got_binary();
    return beast::buffers_to_string(buf.data());
  }
};

// For writes whose completion the test does not wait for.
const auto no_done = [] { return [](beast::error_code) {}; };

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

// The message as the session writes it: its header, then the payload in three parts.
struct Message {
  std::string payload;
  std::array<unsigned char, 10> header{};
  FrameStream::Parts parts() {
    auto n = ws_frame_header(2, payload.size(), header);
    auto third = payload.size() / 3;
    return {asio::buffer(header.data(), n), asio::buffer(payload.data(), third),
            asio::buffer(payload.data() + third, third),
            asio::buffer(payload.data() + 2 * third, payload.size() - 2 * third)};
  }
};

TEST(FrameStream, MessagesOfEveryLengthEncodingArriveWholeAsBinary) {
  Pair p(false);
  for (std::size_t n : {0u, 1u, 125u, 126u, 65535u, 65536u, 300000u}) {
    Message m{pattern(n)};
    int completions_made = 0;
    auto sent = p.on_loop([&] {
      beast::error_code ec;
      return p.server->next_layer().write_now(m.parts(), ec, [&] {
        ++completions_made;
        return [](beast::error_code) {};
      });
    });
    // The whole message fits these (default-sized) buffers, except perhaps the largest.
    if (n < 300000u) {
      EXPECT_EQ(sent, FrameStream::Sent::kAll) << n;
    }
    // A completion (the session's keep-alive) is made only for a message left pending.
    EXPECT_EQ(completions_made, sent == FrameStream::Sent::kPending ? 1 : 0) << n;
    bool binary = false;
    EXPECT_EQ(p.read(&binary), m.payload) << n;
    EXPECT_TRUE(binary);
  }
}

// A message the full socket takes only part of: the rest follows, done() is called once it has,
// and a ping and a text Beast writes meanwhile come after it, not inside it.
TEST(FrameStream, TheRestOfAMessageGoesFirstAndBeastsWritesWaitForIt) {
  Pair p(true);
  Message m{pattern(4 << 20)};
  std::promise<beast::error_code> done;
  auto sent = p.on_loop([&] {
    beast::error_code ec;
    auto s = p.server->next_layer().write_now(
        m.parts(), ec, [&] { return [&](beast::error_code e) { done.set_value(e); }; });
    // Beast's own writes while the rest is pending.
    p.server->async_ping({}, [](beast::error_code) {});
    p.server->text(true);
    p.server->async_write(asio::buffer(std::string_view("after")),
                          [](beast::error_code, std::size_t) {});
    return s;
  });
  ASSERT_EQ(sent, FrameStream::Sent::kPending);
  bool pinged_before_text = false;
  bool message_done = false;
  p.client.control_callback([&](websocket::frame_type kind, beast::string_view) {
    if (kind == websocket::frame_type::ping) pinged_before_text = message_done;
  });
  bool binary = false;
  EXPECT_EQ(p.read(&binary), m.payload);
  EXPECT_TRUE(binary);
  message_done = true;
  EXPECT_FALSE(done.get_future().get());
  EXPECT_EQ(p.read(&binary), "after");
  EXPECT_FALSE(binary);
  EXPECT_TRUE(pinged_before_text);
}

// When the rest is out, the Beast writes that waited for it start before the session is told:
// the session's next message (written from done) finds them under way and does not start
// half-way before them.
TEST(FrameStream, BeastsWaitingWritesStartBeforeTheNextStraightMessage) {
  Pair p(true);
  Message m{pattern(4 << 20)};
  Message next{pattern(3 << 20)};
  std::promise<FrameStream::Sent> next_sent;
  auto sent = p.on_loop([&] {
    beast::error_code ec;
    auto s = p.server->next_layer().write_now(m.parts(), ec, [&] {
      return [&](beast::error_code) {
        beast::error_code ec2;
        next_sent.set_value(p.server->next_layer().write_now(next.parts(), ec2, no_done));
      };
    });
    p.server->async_ping({}, [](beast::error_code) {});
    return s;
  });
  ASSERT_EQ(sent, FrameStream::Sent::kPending);
  EXPECT_EQ(p.read(), m.payload);
  EXPECT_EQ(next_sent.get_future().get(), FrameStream::Sent::kBusy);
}

// The peer resets while the rest of a message is pending, with a ping and a text of Beast's
// waiting behind it: done() reports the failure once, Beast's waiting writes fail with it (they
// are not left hanging on the socket), and nothing is written after it.
TEST(FrameStream, APeerThatResetsDuringTheRestFailsItAndBeastsWaitingWrites) {
  // Before the pair: its handlers may still run when it goes.
  std::atomic<int> done_calls{0};
  std::promise<beast::error_code> done, pinged, wrote, later;
  Pair p(true);
  Message m{pattern(4 << 20)};
  auto sent = p.on_loop([&] {
    beast::error_code ec;
    auto s = p.server->next_layer().write_now(m.parts(), ec, [&] {
      return [&](beast::error_code e) {
        if (done_calls++ == 0) done.set_value(e);
      };
    });
    p.server->async_ping({}, [&](beast::error_code e) { pinged.set_value(e); });
    p.server->text(true);
    p.server->async_write(asio::buffer(std::string_view("after")),
                          [&](beast::error_code e, std::size_t) { wrote.set_value(e); });
    return s;
  });
  ASSERT_EQ(sent, FrameStream::Sent::kPending);
  // Some of the message has arrived; then the peer resets instead of reading the rest.
  for (int i = 0; i < 500 && p.client.next_layer().available() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(p.client.next_layer().available(), 0u);
  p.client.next_layer().set_option(asio::socket_base::linger(true, 0));
  p.client.next_layer().close();

  auto done_f = done.get_future();
  auto pinged_f = pinged.get_future();
  auto wrote_f = wrote.get_future();
  ASSERT_EQ(done_f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_TRUE(done_f.get());
  ASSERT_EQ(pinged_f.wait_for(std::chrono::seconds(5)), std::future_status::ready)
      << "the ping that waited for the rest was left hanging";
  EXPECT_TRUE(pinged_f.get());
  ASSERT_EQ(wrote_f.wait_for(std::chrono::seconds(5)), std::future_status::ready)
      << "the text that waited for the rest was left hanging";
  EXPECT_TRUE(wrote_f.get());
  // Nothing more: a straight write says the socket failed, one of Beast's fails.
  Message next{pattern(100)};
  beast::error_code ec;
  EXPECT_EQ(p.on_loop([&] { return p.server->next_layer().write_now(next.parts(), ec, no_done); }),
            FrameStream::Sent::kFailed);
  EXPECT_TRUE(ec);
  p.on_loop([&] {
    p.server->next_layer().async_write_some(
        asio::buffer(std::string_view("x")),
        [&](beast::error_code e, std::size_t) { later.set_value(e); });
    return 0;
  });
  auto later_f = later.get_future();
  ASSERT_EQ(later_f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_TRUE(later_f.get());
  EXPECT_EQ(done_calls.load(), 1);
}

// While one of Beast's writes is under way, write_now writes nothing and says so.
TEST(FrameStream, WhileBeastWritesNothingIsWrittenStraight) {
  Pair p(true);
  auto big = pattern(4 << 20);
  Message m{pattern(100)};
  auto sent = p.on_loop([&] {
    p.server->binary(true);
    p.server->async_write(asio::buffer(big), [](beast::error_code, std::size_t) {});
    beast::error_code ec;
    return p.server->next_layer().write_now(m.parts(), ec, no_done);
  });
  EXPECT_EQ(sent, FrameStream::Sent::kBusy);
  EXPECT_EQ(p.read(), big);
  // Once Beast is done, straight writes go again.
  sent = p.on_loop([&] {
    beast::error_code ec;
    return p.server->next_layer().write_now(m.parts(), ec, no_done);
  });
  EXPECT_EQ(sent, FrameStream::Sent::kAll);
  EXPECT_EQ(p.read(), m.payload);
}

// A peer that has gone: the failure is reported (the first write may still be taken by the
// kernel; the ones after it fail), not thrown or ignored.
TEST(FrameStream, AClosedPeerIsReportedAsFailed) {
  Pair p(false);
  p.client.next_layer().close();
  Message m{pattern(100)};
  FrameStream::Sent sent = FrameStream::Sent::kAll;
  beast::error_code ec;
  for (int i = 0; i < 100 && sent == FrameStream::Sent::kAll; ++i) {
    sent = p.on_loop([&] { return p.server->next_layer().write_now(m.parts(), ec, no_done); });
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(sent, FrameStream::Sent::kFailed);
  EXPECT_TRUE(ec);
}

}  // namespace
}  // namespace ds::net
