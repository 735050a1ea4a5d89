// cluster::Seal: what opens and what is dropped (and counted) on the wire between nodes.
#include "cluster/seal.hpp"

#include <gtest/gtest.h>

#include <string>

using ds::ManualClock;
using ds::cluster::OpenFailure;
using ds::cluster::Seal;

namespace {

constexpr const char* kSecret = "correct horse battery staple";

}  // namespace

TEST(Seal, RoundTripCarriesSenderTimeAndPayload) {
  ManualClock clock;
  Seal a(kSecret, "node-a", clock);
  Seal b(kSecret, "node-b", clock);
  std::string payload("binary\0\xff\npayload", 17);
  auto sealed = a.seal("ds:n:node-b", payload);
  EXPECT_EQ(sealed.size(), payload.size() + Seal::kOverhead + 9 + 6);
  EXPECT_EQ(sealed.find("payload"), std::string::npos) << "the payload is not encrypted";
  EXPECT_EQ(sealed.find("node-a"), std::string::npos) << "the sender is not encrypted";
  auto opened = b.open("ds:n:node-b", sealed);
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->sender, "node-a");
  EXPECT_EQ(opened->sent_ms, clock.now_ms());
  EXPECT_EQ(opened->payload, payload);
  EXPECT_EQ(b.counters().forged + b.counters().stale + b.counters().replayed, 0u);
  // Two seals of one payload differ (a fresh nonce each time).
  EXPECT_NE(a.seal("c", "x"), a.seal("c", "x"));
}

TEST(Seal, AnyTamperedByteIsForged) {
  ManualClock clock;
  Seal a(kSecret, "node-a", clock);
  auto sealed = a.seal("ds:c:alice", "frame");
  for (std::size_t i = 0; i < sealed.size(); ++i) {
    auto bad = sealed;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    OpenFailure why{};
    EXPECT_FALSE(a.open("ds:c:alice", bad, &why)) << "byte " << i;
    EXPECT_EQ(why, OpenFailure::kForged) << "byte " << i;
  }
  EXPECT_FALSE(a.open("ds:c:alice", sealed.substr(0, sealed.size() - 1)));
  EXPECT_FALSE(a.open("ds:c:alice", sealed + "x"));
  EXPECT_EQ(a.counters().forged, sealed.size() + 2);
  // Untouched, it still opens: none of the above was remembered as seen.
  EXPECT_TRUE(a.open("ds:c:alice", sealed));
}

TEST(Seal, WrongKeyWrongContextAndPlainMessagesAreForged) {
  ManualClock clock;
  Seal a(kSecret, "node-a", clock);
  Seal other("another secret of enough length", "node-x", clock);
  OpenFailure why{};
  EXPECT_FALSE(a.open("ds:n:node-a", other.seal("ds:n:node-a", "Q1 node-x\n{}\n"), &why));
  EXPECT_EQ(why, OpenFailure::kForged);
  // Sealed for one node's channel, replayed on another's.
  EXPECT_FALSE(a.open("ds:n:node-a", a.seal("ds:n:node-b", "call"), &why));
  EXPECT_EQ(why, OpenFailure::kForged);
  // What a node of an older version (or someone with only Redis) publishes.
  for (std::string plain :
       {std::string(), std::string("Q1 node-x\n{\"op\":\"http\"}\n"), std::string(200, '\x01')}) {
    EXPECT_FALSE(a.open("ds:n:node-a", plain, &why));
    EXPECT_EQ(why, OpenFailure::kForged);
  }
  EXPECT_EQ(a.counters().forged, 5u);
}

TEST(Seal, OldAndFarFutureMessagesAreStale) {
  ManualClock clock;
  Seal a(kSecret, "node-a", clock, {10'000, 1000});
  auto sealed = a.seal("c", "hello");
  clock.advance_ms(10'001);
  OpenFailure why{};
  EXPECT_FALSE(a.open("c", sealed, &why));
  EXPECT_EQ(why, OpenFailure::kStale);
  // A sender whose clock runs 11 s ahead.
  ManualClock ahead(clock.now_ms() + 11'000);
  Seal fast(kSecret, "node-f", ahead);
  EXPECT_FALSE(a.open("c", fast.seal("c", "hello"), &why));
  EXPECT_EQ(why, OpenFailure::kStale);
  // Within the window either way, it opens.
  ahead.set_ms(clock.now_ms() + 9'000);
  EXPECT_TRUE(a.open("c", fast.seal("c", "hello")));
  auto recent = a.seal("c", "hello");
  clock.advance_ms(9'999);
  EXPECT_TRUE(a.open("c", recent));
  EXPECT_EQ(a.counters().stale, 2u);
}

TEST(Seal, ARepeatIsReplayedEvenAfterOthers) {
  ManualClock clock;
  Seal a(kSecret, "node-a", clock);
  Seal b(kSecret, "node-b", clock);
  auto first = a.seal("c", "one");
  ASSERT_TRUE(b.open("c", first));
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(b.open("c", a.seal("c", "more")));
  clock.advance_ms(5'000);
  OpenFailure why{};
  EXPECT_FALSE(b.open("c", first, &why));
  EXPECT_EQ(why, OpenFailure::kReplayed);
  EXPECT_EQ(b.counters().replayed, 1u);
  // Once it would be stale anyway its nonce is forgotten, and it is still refused (stale).
  clock.advance_ms(6'000);
  EXPECT_FALSE(b.open("c", first, &why));
  EXPECT_EQ(why, OpenFailure::kStale);
}

TEST(Seal, AFullReplayCacheRefusesWhatItCouldNoLongerTellFromAReplay) {
  ManualClock clock;
  Seal a(kSecret, "node-a", clock);
  Seal b(kSecret, "node-b", clock, {10'000, 4});
  auto old = a.seal("c", "old");
  ASSERT_TRUE(b.open("c", old));
  clock.advance_ms(1);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(b.open("c", a.seal("c", "new")));  // evicts old
  OpenFailure why{};
  EXPECT_FALSE(b.open("c", old, &why));
  EXPECT_EQ(why, OpenFailure::kStale);
  clock.advance_ms(1);
  EXPECT_TRUE(b.open("c", a.seal("c", "fresh")));
}

TEST(Seal, RefusesWeakSecretsWithoutQuotingThem) {
  EXPECT_TRUE(Seal::weak_secret(""));
  auto why = Seal::weak_secret("short-pw-123");
  ASSERT_TRUE(why);
  EXPECT_EQ(why->find("short-pw-123"), std::string::npos);
  EXPECT_FALSE(Seal::weak_secret("0123456789abcdef"));
  ManualClock clock;
  EXPECT_THROW(Seal("short", "n", clock), std::invalid_argument);
}
