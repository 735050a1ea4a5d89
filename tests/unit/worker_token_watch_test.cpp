#include "live/worker_token_watch.hpp"

#include <gtest/gtest.h>

#include "fake_peer.hpp"

using namespace ds;
using ds::test::FakePeer;

namespace {

// Answers as the database would after `admin worker-token revoke`: these ids are revoked.
live::WorkerTokenWatch::RevokedOf revoked(std::vector<long long> ids, int* queries = nullptr) {
  return [ids, queries](const std::vector<long long>& asked) {
    if (queries) ++*queries;
    std::vector<long long> out;
    for (auto id : asked) {
      if (std::find(ids.begin(), ids.end(), id) != ids.end()) out.push_back(id);
    }
    return out;
  };
}

}  // namespace

TEST(WorkerTokenWatch, ARevokedTokenEndsItsSocketsAndNoOthers) {
  live::WorkerTokenWatch watch;
  auto a1 = std::make_shared<FakePeer>(), a2 = std::make_shared<FakePeer>();
  auto b = std::make_shared<FakePeer>();
  watch.add(a1.get(), a1, 7);
  watch.add(a2.get(), a2, 7);
  watch.add(b.get(), b, 8);
  EXPECT_EQ(watch.recheck(revoked({})), 0u);
  EXPECT_EQ(a1->close_code, 0);

  EXPECT_EQ(watch.recheck(revoked({7})), 2u);
  for (auto* p : {a1.get(), a2.get()}) {
    EXPECT_EQ(p->close_code, 4401);
    EXPECT_EQ(p->last_text()["code"], "revoked");
  }
  EXPECT_EQ(b->close_code, 0);
  EXPECT_EQ(watch.size(), 1u);
  // Ended once: the next check does not close them again.
  a1->close_code = 0;
  EXPECT_EQ(watch.recheck(revoked({7})), 0u);
  EXPECT_EQ(a1->close_code, 0);
}

TEST(WorkerTokenWatch, NoSocketsMeansNoQueryAndAClosedSocketIsForgotten) {
  live::WorkerTokenWatch watch;
  int queries = 0;
  EXPECT_EQ(watch.recheck(revoked({1}, &queries)), 0u);
  EXPECT_EQ(queries, 0);
  auto p = std::make_shared<FakePeer>();
  watch.add(p.get(), p, 1);
  watch.remove(p.get());
  EXPECT_EQ(watch.recheck(revoked({1}, &queries)), 0u);
  EXPECT_EQ(queries, 0);
  EXPECT_EQ(p->close_code, 0);
}
