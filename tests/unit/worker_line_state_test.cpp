// The line-state table the push and worker clients move through (worker/line_state.hpp).
#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

#include "line_moves.hpp"
#include "worker/line_state.hpp"

namespace ds::worker {
namespace {

using S = LineState;
constexpr S kAll[] = {S::kConnecting, S::kOpen, S::kClosing, S::kBackoff, S::kClosed};

TEST(LineState, TheTableHoldsExactlyTheMovesTheClientsMake) {
  std::set<std::pair<S, S>> expected = {
      {S::kConnecting, S::kOpen}, {S::kConnecting, S::kBackoff}, {S::kConnecting, S::kClosed},
      {S::kOpen, S::kClosing},    {S::kOpen, S::kBackoff},       {S::kOpen, S::kClosed},
      {S::kClosing, S::kClosed},  {S::kBackoff, S::kConnecting}, {S::kBackoff, S::kClosed},
  };
  for (S from : kAll) {
    for (S to : kAll) {
      EXPECT_EQ(is_allowed(from, to), expected.count({from, to}) == 1)
          << to_string(from) << " -> " << to_string(to);
    }
  }
}

TEST(LineState, ALineStartsConnectingAndTellsTheObserverOfEachMove) {
  std::vector<std::pair<S, S>> moves;
  LineStateMachine line([&](S from, S to) { moves.emplace_back(from, to); });
  EXPECT_TRUE(line.is(S::kConnecting));
  line.enter(S::kOpen);
  line.enter(S::kBackoff);
  line.enter(S::kConnecting);
  line.enter(S::kOpen);
  line.enter(S::kClosing);
  line.enter(S::kClosed);
  EXPECT_EQ(moves, (std::vector<std::pair<S, S>>{{S::kConnecting, S::kOpen},
                                                 {S::kOpen, S::kBackoff},
                                                 {S::kBackoff, S::kConnecting},
                                                 {S::kConnecting, S::kOpen},
                                                 {S::kOpen, S::kClosing},
                                                 {S::kClosing, S::kClosed}}));
}

TEST(LineState, AMoveOutsideTheTableThrowsAndChangesNothing) {
  int told = 0;
  LineStateMachine line([&](S, S) { ++told; });
  line.enter(S::kOpen);
  line.enter(S::kClosing);
  EXPECT_THROW(line.enter(S::kBackoff), std::logic_error) << "a closing line does not reconnect";
  EXPECT_TRUE(line.is(S::kClosing));
  line.enter(S::kClosed);
  EXPECT_THROW(line.enter(S::kConnecting), std::logic_error) << "closed is for good";
  EXPECT_THROW(line.enter(S::kClosed), std::logic_error);
  EXPECT_TRUE(line.is(S::kClosed));
  EXPECT_EQ(told, 3);
}

TEST(LineState, EveryStateHasAName) {
  std::set<std::string_view> names;
  for (S s : kAll) names.insert(to_string(s));
  EXPECT_EQ(names,
            (std::set<std::string_view>{"connecting", "open", "closing", "backoff", "closed"}));
}

}  // namespace
}  // namespace ds::worker
