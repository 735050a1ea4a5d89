// live::HlsStore from several threads at once, as in the server: one encoder thread feeding
// units, request threads reading playlists and media and waiting for parts, a ticker expiring
// deadlines, drops and ends, and clients that leave while they wait (each request thread one
// address, at most 20 waiting places each). Every waiter is woken exactly once, or let go
// unwoken because its client left. Built with ThreadSanitizer
// as tsan.hls_store (tests/CMakeLists.txt); a race report fails it.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "h264_units.hpp"
#include "live/hls_store.hpp"
#include "util/clock.hpp"

namespace ds::live {
namespace {

using test::h264_unit;
constexpr auto unit = h264_unit;

TEST(HlsStoreStress, EveryWaiterIsWokenOnceWhateverTheThreads) {
  ManualClock clock;
  HlsStoreConfig config;
  config.max_waiters = 64;
  config.max_waiters_per_client = 20;
  HlsStore store(clock, config);
  std::atomic<bool> done{false};
  std::atomic<int> registered{0}, woken{0}, twice{0}, asked{0}, dropped{0};
  // Destroyed with the waker: counts the ones let go without being woken.
  struct Calls {
    std::atomic<int> n{0};
    std::atomic<int>* dropped;
    explicit Calls(std::atomic<int>* d) : dropped(d) {}
    ~Calls() {
      if (n.load() == 0) ++*dropped;
    }
  };

  std::thread encoder([&] {
    long long session = 1;
    for (int i = 0; i < 20'000; ++i) {
      // In step with the requests, however fast the build: one request per two units.
      while (asked.load() < i / 2) std::this_thread::yield();
      if (i % 5000 == 4999) {
        store.end("ann");
        ++session;
      }
      if (i % 3000 == 2999) store.drop("ann");
      store.on_unit("ann", session, unit(1'000'000 + i * 40, i % 50 == 0));
    }
    done = true;
  });
  std::thread ticker([&] {
    while (!done) {
      clock.advance_ms(50);
      store.tick();
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> requests;
  for (int t = 0; t < 4; ++t) {
    requests.emplace_back([&, t] {
      std::mt19937 rng(t);
      while (!done) {
        auto p = store.playlist("ann");
        std::int64_t msn = p ? static_cast<std::int64_t>(rng() % 8) : 0;
        store.media("ann", p ? p->session_id : 1, HlsStore::Media::kPart, msn, 0);
        HlsStore::Until until{HlsStore::Until::Kind::kPart, p ? p->session_id : 0, msn,
                              static_cast<int>(rng() % 4)};
        auto calls = std::make_shared<Calls>(&dropped);
        auto gone = std::make_shared<std::atomic<bool>>(false);
        auto r = store.wait("ann", until, clock.now_ms() + 200,
                            [&, calls](bool) {
                              if (calls->n.fetch_add(1) > 0) ++twice;
                              ++woken;
                            },
                            {"10.0.0." + std::to_string(t), gone});
        if (r == HlsStore::Wait::kWaiting) {
          ++registered;
        } else {
          ++calls->n;  // answered at once by the caller, as hls_api does
        }
        calls.reset();
        if (rng() % 3 == 0) gone->store(true);  // this client resets its connection
        ++asked;
      }
    });
  }
  encoder.join();
  ticker.join();
  for (auto& r : requests) r.join();
  clock.advance_ms(10'000);
  store.tick();
  store.drop("ann");
  EXPECT_EQ(twice.load(), 0);
  EXPECT_EQ(woken.load() + dropped.load(), registered.load());
  EXPECT_GT(dropped.load(), 0);
  EXPECT_GT(woken.load(), 0);
}

}  // namespace
}  // namespace ds::live
