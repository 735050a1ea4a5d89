#include "net/ready_queue.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <thread>

namespace ds::net {
namespace {

namespace asio = boost::asio;

struct Counter : Ready {
  asio::io_context* loop = nullptr;
  std::atomic<int> woken{0};
  std::atomic<bool> on_loop{true};
  void on_ready() override {
    if (!loop->get_executor().running_in_this_thread()) on_loop = false;
    woken++;
  }
};

// Sessions handed over from another thread are woken on the loop, all in one pass: the loop
// gets one handler for the batch, not one per session.
TEST(ReadyQueue, SessionsFromAnotherThreadAreWokenOnTheLoopInOnePass) {
  asio::io_context loop;
  auto& q = asio::use_service<ReadyQueue>(loop);
  std::vector<std::shared_ptr<Counter>> sessions;
  for (int i = 0; i < 100; ++i) {
    sessions.push_back(std::make_shared<Counter>());
    sessions.back()->loop = &loop;
  }
  std::thread fan([&] {
    for (auto& s : sessions) q.push(s);
  });
  fan.join();
  EXPECT_EQ(q.pending(), 100u);
  // One handler runs them all.
  EXPECT_EQ(loop.run_one(), 1u);
  EXPECT_EQ(q.pending(), 0u);
  for (auto& s : sessions) {
    EXPECT_EQ(s->woken, 1);
    EXPECT_TRUE(s->on_loop);
  }
  EXPECT_EQ(loop.poll(), 0u) << "nothing else was posted";
  // The next batch posts again.
  loop.restart();  // it ran out of work
  q.push(sessions[0]);
  q.push(sessions[1]);
  EXPECT_EQ(loop.poll(), 1u);
  EXPECT_EQ(sessions[0]->woken, 2);
  EXPECT_EQ(sessions[1]->woken, 2);
  EXPECT_EQ(sessions[2]->woken, 1);
}

// A session pushed while its batch runs waits for the next pass (its wake-up is not lost).
TEST(ReadyQueue, ASessionPushedDuringAPassIsWokenInTheNext) {
  asio::io_context loop;
  auto& q = asio::use_service<ReadyQueue>(loop);
  struct Again : Ready {
    ReadyQueue* q = nullptr;
    std::shared_ptr<Ready> next;
    int woken = 0;
    void on_ready() override {
      ++woken;
      if (next) q->push(std::exchange(next, nullptr));
    }
  };
  auto first = std::make_shared<Again>();
  auto second = std::make_shared<Again>();
  first->q = &q;
  first->next = second;
  q.push(first);
  EXPECT_EQ(loop.run_one(), 1u);
  EXPECT_EQ(second->woken, 0);
  EXPECT_EQ(q.pending(), 1u);
  EXPECT_EQ(loop.poll(), 1u);
  EXPECT_EQ(second->woken, 1);
}

// Stands for the services a session's socket needs (the reactor): registered before the
// ReadyQueue, so shut down after it.
struct SocketServices : asio::io_context::service {
  static inline asio::execution_context::id id;
  explicit SocketServices(asio::io_context& ioc) : asio::io_context::service(ioc) {}
  void shutdown() override { down = true; }
  bool down = false;
};

// Sessions still queued when the loop goes away are released while the services their sockets
// need are still up (the reactor frees its descriptor states when it shuts down), not when the
// io_context destroys its services afterwards; nothing is queued after that.
TEST(ReadyQueue, ShutdownReleasesQueuedSessionsBeforeTheSocketServicesGo) {
  struct Session : Ready {
    SocketServices* sockets = nullptr;
    bool* released_in_time = nullptr;
    ~Session() override { *released_in_time = !sockets->down; }
    void on_ready() override {}
  };
  bool released_in_time = false;
  auto s = std::make_shared<Session>();
  s->released_in_time = &released_in_time;
  std::weak_ptr<Session> alive = s;
  {
    asio::io_context loop;
    s->sockets = &asio::use_service<SocketServices>(loop);
    auto& q = asio::use_service<ReadyQueue>(loop);
    q.push(std::move(s));
    EXPECT_FALSE(alive.expired());
    loop.stop();  // the pass never runs
  }
  EXPECT_TRUE(alive.expired());
  EXPECT_TRUE(released_in_time);
}

}  // namespace
}  // namespace ds::net
