#include "net/handler_pool.hpp"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <thread>

namespace ds::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

TEST(HandlerPool, AFreedBlockIsHandedOutAgainForTheSameSizeClass) {
  HandlerPool pool;
  void* a = pool.allocate(1500);
  pool.deallocate(a, 1500);
  EXPECT_EQ(pool.cached(), 1u);
  // 1500 and 1400 round up to the same 1536-byte block.
  void* b = pool.allocate(1400);
  EXPECT_EQ(a, b);
  EXPECT_EQ(pool.cached(), 0u);
  // Another class does not take it.
  pool.deallocate(b, 1400);
  void* c = pool.allocate(300);
  EXPECT_NE(c, b);
  pool.deallocate(c, 300);
  EXPECT_EQ(pool.cached(), 2u);
}

TEST(HandlerPool, LargeBlocksAreNotKept) {
  HandlerPool pool;
  void* p = pool.allocate(HandlerPool::kGranule * HandlerPool::kClasses + 1);
  pool.deallocate(p, HandlerPool::kGranule * HandlerPool::kClasses + 1);
  EXPECT_EQ(pool.cached(), 0u);
}

TEST(HandlerPool, EachClassKeepsABoundedNumberOfBlocks) {
  HandlerPool pool;
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < HandlerPool::kMaxCachedPerClass + 10; ++i) {
    blocks.push_back(pool.allocate(1000));
  }
  for (void* p : blocks) pool.deallocate(p, 1000);
  EXPECT_EQ(pool.cached(), HandlerPool::kMaxCachedPerClass);
}

TEST(HandlerPool, ABlockMayBeFreedOnAnotherThread) {
  void* p = PooledAllocator<char>().allocate(2000);
  std::size_t cached_there = 0;
  std::thread t([&] {
    PooledAllocator<char>().deallocate(static_cast<char*>(p), 2000);
    cached_there = HandlerPool::local().cached();
  });
  t.join();
  EXPECT_EQ(cached_there, 1u);
}

// The point of the pool: Beast and Asio really allocate a pooled handler's operations from it.
// A WebSocket write of a frame on a strand, as WsSession does, takes its blocks from the io
// thread's pool; the same write with a plain handler takes none.
std::size_t pool_allocations_for_one_write(bool use_pool) {
  asio::io_context ioc(1);
  tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  using Stream = beast::basic_stream<tcp, asio::strand<asio::io_context::executor_type>,
                                     beast::unlimited_rate_policy>;
  beast::websocket::stream<Stream> server(asio::make_strand(ioc));
  beast::websocket::stream<tcp::socket> client(ioc);
  client.next_layer().connect(acceptor.local_endpoint());
  acceptor.accept(server.next_layer().socket());
  std::thread handshake([&] { client.handshake("127.0.0.1", "/"); });
  server.accept();
  handshake.join();

  std::string frame(50'000, 'x');
  std::array<asio::const_buffer, 2> parts{asio::buffer(frame.data(), 4),
                                          asio::buffer(frame.data() + 4, frame.size() - 4)};
  bool done = false;
  auto on_write = [&](beast::error_code ec, std::size_t) {
    EXPECT_FALSE(ec);
    done = true;
  };
  server.binary(true);
  std::size_t before = HandlerPool::local().allocations();
  if (use_pool) {
    server.async_write(parts, pooled(on_write));
  } else {
    server.async_write(parts, on_write);
  }
  std::thread reader([&] {
    beast::flat_buffer b;
    client.read(b);
  });
  ioc.run();
  reader.join();
  EXPECT_TRUE(done);
  return HandlerPool::local().allocations() - before;
}

TEST(HandlerPool, AsioAndBeastAllocateAPooledHandlersOperationsFromIt) {
  EXPECT_EQ(pool_allocations_for_one_write(false), 0u);
  EXPECT_GE(pool_allocations_for_one_write(true), 1u);
}

}  // namespace
}  // namespace ds::net
