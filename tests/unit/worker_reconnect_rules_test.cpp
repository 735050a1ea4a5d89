// Which ends of a /ws/ingest connection `dreamstream push` reconnects after, and for how long.
#include <gtest/gtest.h>

#include "worker/reconnect_rules.hpp"

namespace ds::worker {
namespace {

using namespace std::chrono_literals;
using Kind = LineEnd::Kind;

LineEnd closed(int code, std::string_view ended_reason = {}) {
  return {Kind::kClosed, code, ended_reason};
}

TEST(ReconnectRules, ALostOrUnreachableLineIsWorthAnotherTry) {
  EXPECT_TRUE(is_transient({Kind::kLost, 0, {}}));
  EXPECT_TRUE(is_transient({Kind::kConnectFailed, 0, {}}));
}

TEST(ReconnectRules, ServerErrorsAreTransientAndClientErrorsFinal) {
  EXPECT_TRUE(is_transient({Kind::kRefused, 503, {}}));
  EXPECT_TRUE(is_transient({Kind::kRefused, 500, {}}));
  EXPECT_TRUE(is_transient({Kind::kRefused, 502, {}}));
  for (int status : {400, 401, 402, 403, 404, 409, 429, 301}) {
    EXPECT_FALSE(is_transient({Kind::kRefused, status, {}})) << status;
  }
}

TEST(ReconnectRules, CloseCodesOfARestartingOrBusyServerAreTransient) {
  for (int code : {1001, 1011, 1012, 1013, 1014}) EXPECT_TRUE(is_transient(closed(code))) << code;
}

TEST(ReconnectRules, CloseCodesThatEndTheStreamAreFinal) {
  for (int code : {1000, 1002, 1005, 1007, 1008, 1009, 4001, 4002, 4401, 4402, 4403, 4409}) {
    EXPECT_FALSE(is_transient(closed(code))) << code;
  }
}

TEST(ReconnectRules, AStreamEndedByAServerShutdownIsTransient) {
  EXPECT_TRUE(is_transient(closed(4002, "server_shutdown")));
  EXPECT_TRUE(is_transient(closed(4002, "interrupted")));
  EXPECT_FALSE(is_transient(closed(4002, "stopped")));
  EXPECT_FALSE(is_transient(closed(4002, "no_credits")));
  EXPECT_FALSE(is_transient(closed(4401, "revoked")));
  EXPECT_FALSE(is_transient(closed(4001, "replaced")));
}

TEST(ReconnectRules, ReconnectsWithinTheRetryWindowThenGivesUp) {
  RetryRules rules{10s, false};
  LineEnd lost{Kind::kLost, 0, {}};
  EXPECT_EQ(after_end(lost, rules, true, 0ms), AfterEnd::kReconnect);
  EXPECT_EQ(after_end(lost, rules, true, 9999ms), AfterEnd::kReconnect);
  EXPECT_EQ(after_end(lost, rules, true, 10s), AfterEnd::kGiveUp);
  EXPECT_EQ(after_end({Kind::kRefused, 503, {}}, rules, true, 12s), AfterEnd::kGiveUp);
}

TEST(ReconnectRules, AFinalEndIsFinalEvenInsideTheWindow) {
  RetryRules rules{10s, true};
  EXPECT_EQ(after_end(closed(4402), rules, true, 0ms), AfterEnd::kFinal);
  EXPECT_EQ(after_end({Kind::kRefused, 401, {}}, rules, true, 1s), AfterEnd::kFinal);
}

TEST(ReconnectRules, RetryForZeroNeverReconnects) {
  RetryRules rules{0ms, true};
  EXPECT_EQ(after_end({Kind::kLost, 0, {}}, rules, true, 0ms), AfterEnd::kFinal);
  EXPECT_EQ(after_end(closed(1013), rules, true, 0ms), AfterEnd::kFinal);
}

TEST(ReconnectRules, TheFirstConnectRetriesOnlyWhenAskedTo) {
  LineEnd refused{Kind::kConnectFailed, 0, {}};
  EXPECT_EQ(after_end(refused, RetryRules{60s, false}, false, 0ms), AfterEnd::kFinal);
  EXPECT_EQ(after_end(refused, RetryRules{60s, true}, false, 0ms), AfterEnd::kReconnect);
  // Once a connection was open, losing the line retries either way.
  EXPECT_EQ(after_end(refused, RetryRules{60s, false}, true, 0ms), AfterEnd::kReconnect);
}

}  // namespace
}  // namespace ds::worker
