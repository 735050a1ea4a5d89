#include "domain/style_queue.hpp"

#include <gtest/gtest.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

using namespace ds::domain;

namespace {

constexpr std::int64_t kT0 = 1'000'000;
constexpr std::int64_t kSlot = 30'000;

StyleQueueConfig config(StylePolicy policy, std::string base = "base look") {
  StyleQueueConfig c;
  c.policy = policy;
  c.slot_ms = kSlot;
  c.base_style = std::move(base);
  return c;
}

StyleRequest request(long long id, std::string prompt) {
  StyleRequest r;
  r.id = id;
  r.session_id = 7;
  r.author = {100 + id, "viewer" + std::to_string(id), "Viewer"};
  r.prompt = std::move(prompt);
  r.created_ms = kT0;
  return r;
}

std::vector<long long> ids(const std::deque<StyleRequest>& q) {
  std::vector<long long> out;
  for (const auto& r : q) out.push_back(r.id);
  return out;
}

const StyleRequest& changed(const StyleUpdate& u, long long id) {
  for (const auto& r : u.changed) {
    if (r.id == id) return r;
  }
  throw std::runtime_error("request not in the update");
}

}  // namespace

TEST(StyleQueue, BaseStylePlaysWhenEmpty) {
  StyleQueue q(config(StylePolicy::kAuto));
  auto cur = q.current();
  EXPECT_EQ(cur.prompt, "base look");
  EXPECT_FALSE(cur.request);
  EXPECT_EQ(cur.started_ms, 0);
  EXPECT_EQ(cur.ends_ms, 0);
}

TEST(StyleQueue, AutoPolicyPlaysFirstRequestAtOnce) {
  StyleQueue q(config(StylePolicy::kAuto));
  auto u = q.submit(request(1, "watercolour"), kT0);
  ASSERT_TRUE(u.ok());
  ASSERT_EQ(u.changed.size(), 1u);
  EXPECT_EQ(u.changed[0].status, StyleStatus::kActive);
  EXPECT_EQ(u.changed[0].started_ms, kT0);
  auto cur = q.current();
  EXPECT_EQ(cur.prompt, "watercolour");
  ASSERT_TRUE(cur.request);
  EXPECT_EQ(cur.request->id, 1);
  EXPECT_EQ(cur.ends_ms, kT0 + kSlot);
}

TEST(StyleQueue, AutoPolicyPlaysInOrderForSlotSeconds) {
  StyleQueue q(config(StylePolicy::kAuto));
  q.submit(request(1, "one"), kT0);
  auto u2 = q.submit(request(2, "two"), kT0 + 1);
  EXPECT_EQ(changed(u2, 2).status, StyleStatus::kQueued);
  q.submit(request(3, "three"), kT0 + 2);
  EXPECT_EQ(ids(q.queued()), (std::vector<long long>{2, 3}));

  EXPECT_TRUE(q.tick(kT0 + kSlot - 1).changed.empty());  // the slot is not over yet
  EXPECT_EQ(q.current().prompt, "one");

  auto u = q.tick(kT0 + kSlot);
  EXPECT_EQ(changed(u, 1).status, StyleStatus::kDone);
  EXPECT_EQ(changed(u, 1).ended_ms, kT0 + kSlot);
  EXPECT_EQ(changed(u, 2).status, StyleStatus::kActive);
  EXPECT_EQ(q.current().prompt, "two");
  EXPECT_EQ(q.current().ends_ms, kT0 + 2 * kSlot);

  q.tick(kT0 + 2 * kSlot);
  EXPECT_EQ(q.current().prompt, "three");
  q.tick(kT0 + 3 * kSlot);
  EXPECT_EQ(q.current().prompt, "base look");
  EXPECT_FALSE(q.current().request);
  EXPECT_TRUE(q.queued().empty());
}

TEST(StyleQueue, ApprovePolicyHoldsUntilApproved) {
  StyleQueue q(config(StylePolicy::kApprove));
  auto u = q.submit(request(1, "neon"), kT0);
  EXPECT_EQ(changed(u, 1).status, StyleStatus::kPending);
  EXPECT_EQ(ids(q.pending()), (std::vector<long long>{1}));
  EXPECT_EQ(q.current().prompt, "base look");
  q.tick(kT0 + 10 * kSlot);  // time alone never plays a pending request
  EXPECT_EQ(q.current().prompt, "base look");

  auto a = q.approve(1, kT0 + 5);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(changed(a, 1).status, StyleStatus::kActive);
  EXPECT_EQ(q.current().prompt, "neon");
  EXPECT_EQ(q.current().started_ms, kT0 + 5);
  EXPECT_TRUE(q.pending().empty());
}

TEST(StyleQueue, ApprovedRequestWaitsBehindThePlayingOne) {
  StyleQueue q(config(StylePolicy::kApprove));
  q.submit(request(1, "one"), kT0);
  q.submit(request(2, "two"), kT0);
  q.approve(1, kT0);
  auto a = q.approve(2, kT0 + 1);
  EXPECT_EQ(changed(a, 2).status, StyleStatus::kQueued);
  EXPECT_EQ(ids(q.queued()), (std::vector<long long>{2}));
  EXPECT_EQ(q.current().prompt, "one");
}

TEST(StyleQueue, ApproveRefusesUnknownAndNonPending) {
  StyleQueue q(config(StylePolicy::kAuto));
  q.submit(request(1, "one"), kT0);
  EXPECT_EQ(q.approve(1, kT0).error, StyleQueueError::kNotPending);
  EXPECT_EQ(q.approve(99, kT0).error, StyleQueueError::kNotFound);
}

TEST(StyleQueue, RejectRemovesPendingOrQueuedButNotActive) {
  StyleQueue q(config(StylePolicy::kApprove));
  q.submit(request(1, "one"), kT0);
  q.submit(request(2, "two"), kT0);
  q.submit(request(3, "three"), kT0);
  q.approve(1, kT0);  // active
  q.approve(2, kT0);  // queued
  auto r3 = q.reject(3, kT0 + 1);
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(changed(r3, 3).status, StyleStatus::kRejected);
  EXPECT_EQ(changed(r3, 3).ended_ms, kT0 + 1);
  auto r2 = q.reject(2, kT0 + 2);
  ASSERT_TRUE(r2.ok());
  EXPECT_TRUE(q.queued().empty());
  EXPECT_TRUE(q.pending().empty());
  EXPECT_EQ(q.reject(1, kT0).error, StyleQueueError::kNotRejectable);
  EXPECT_EQ(q.reject(3, kT0).error, StyleQueueError::kNotFound);  // gone once rejected
  EXPECT_EQ(q.current().prompt, "one");
}

TEST(StyleQueue, SkipPlaysTheNextOrTheBaseStyle) {
  StyleQueue q(config(StylePolicy::kAuto));
  q.submit(request(1, "one"), kT0);
  q.submit(request(2, "two"), kT0);
  auto s = q.skip(kT0 + 1000);
  EXPECT_EQ(changed(s, 1).status, StyleStatus::kSkipped);
  EXPECT_EQ(changed(s, 2).status, StyleStatus::kActive);
  EXPECT_EQ(q.current().prompt, "two");
  // The next one gets a full slot from the moment it starts.
  EXPECT_EQ(q.current().ends_ms, kT0 + 1000 + kSlot);
  q.skip(kT0 + 2000);
  EXPECT_EQ(q.current().prompt, "base look");
  EXPECT_TRUE(q.skip(kT0 + 3000).changed.empty());  // nothing plays: nothing to skip
}

TEST(StyleQueue, ClearEndsWaitingRequestsButNotThePlayingOne) {
  StyleQueue q(config(StylePolicy::kApprove));
  q.submit(request(1, "one"), kT0);
  q.approve(1, kT0);
  q.submit(request(2, "two"), kT0);
  q.approve(2, kT0);
  q.submit(request(3, "three"), kT0);
  auto c = q.clear(kT0 + 5);
  ASSERT_EQ(c.changed.size(), 2u);
  EXPECT_EQ(changed(c, 2).status, StyleStatus::kCleared);
  EXPECT_EQ(changed(c, 3).status, StyleStatus::kCleared);
  EXPECT_TRUE(q.queued().empty());
  EXPECT_TRUE(q.pending().empty());
  EXPECT_EQ(q.current().prompt, "one");
}

TEST(StyleQueue, EndAllFinishesEverything) {
  StyleQueue q(config(StylePolicy::kAuto));
  q.submit(request(1, "one"), kT0);
  q.submit(request(2, "two"), kT0);
  auto u = q.end_all(kT0 + 10);
  EXPECT_EQ(changed(u, 1).status, StyleStatus::kDone);
  EXPECT_EQ(changed(u, 2).status, StyleStatus::kCleared);
  EXPECT_EQ(q.current().prompt, "base look");
  EXPECT_EQ(q.find(1), nullptr);
}

TEST(StyleQueue, SwitchingToAutoQueuesPendingInOrder) {
  StyleQueue q(config(StylePolicy::kApprove));
  q.submit(request(1, "one"), kT0);
  q.submit(request(2, "two"), kT0 + 1);
  auto u = q.set_policy(StylePolicy::kAuto, kT0 + 2);
  EXPECT_EQ(changed(u, 1).status, StyleStatus::kActive);
  EXPECT_EQ(changed(u, 2).status, StyleStatus::kQueued);
  EXPECT_EQ(q.current().prompt, "one");
  EXPECT_EQ(ids(q.queued()), (std::vector<long long>{2}));
  // New requests now skip approval.
  auto s = q.submit(request(3, "three"), kT0 + 3);
  EXPECT_EQ(changed(s, 3).status, StyleStatus::kQueued);
}

TEST(StyleQueue, ShorterSlotAppliesToThePlayingRequest) {
  StyleQueue q(config(StylePolicy::kAuto));
  q.submit(request(1, "one"), kT0);
  q.set_slot_ms(5'000);
  EXPECT_EQ(q.current().ends_ms, kT0 + 5'000);
  q.tick(kT0 + 5'000);
  EXPECT_EQ(q.current().prompt, "base look");
}

TEST(StyleQueue, BaseStyleChangeShowsWhenIdle) {
  StyleQueue q(config(StylePolicy::kAuto));
  q.set_base_style("oil painting");
  EXPECT_EQ(q.current().prompt, "oil painting");
}

TEST(StyleQueue, FullQueueRefusesNewRequests) {
  auto c = config(StylePolicy::kApprove);
  c.max_waiting = 2;
  StyleQueue q(c);
  EXPECT_TRUE(q.submit(request(1, "one"), kT0).ok());
  EXPECT_TRUE(q.submit(request(2, "two"), kT0).ok());
  auto u = q.submit(request(3, "three"), kT0);
  EXPECT_EQ(u.error, StyleQueueError::kQueueFull);
  EXPECT_TRUE(u.changed.empty());
  EXPECT_EQ(q.pending().size(), 2u);
}

TEST(StyleQueue, StatusNamesRoundTrip) {
  for (auto s :
       {StyleStatus::kPending, StyleStatus::kQueued, StyleStatus::kActive, StyleStatus::kDone,
        StyleStatus::kRejected, StyleStatus::kSkipped, StyleStatus::kCleared}) {
    EXPECT_EQ(parse_style_status(to_string(s)), s);
  }
  EXPECT_EQ(to_string(StyleStatus::kActive), "active");
  EXPECT_FALSE(parse_style_status("playing"));
  EXPECT_EQ(parse_style_policy("approve"), StylePolicy::kApprove);
  EXPECT_FALSE(parse_style_policy("manual"));
}

TEST(StyleQueue, QueueOrderFollowsApprovalsNotArrival) {
  StyleQueue q(config(StylePolicy::kApprove));
  for (long long id = 1; id <= 3; ++id) q.submit(request(id, "p"), kT0);
  auto third = q.approve(3, kT0 + 1);
  auto second = q.approve(2, kT0 + 2);
  EXPECT_LT(changed(third, 3).queue_order, changed(second, 2).queue_order);
  EXPECT_EQ(changed(second, 2).status, StyleStatus::kQueued);
}

namespace {

// What storage holds after a run of updates: the latest copy of each request, by id.
std::vector<StyleRequest> stored_open(const std::vector<StyleUpdate>& updates) {
  std::map<long long, StyleRequest> rows;
  for (const auto& u : updates) {
    for (const auto& r : u.changed) rows[r.id] = r;
  }
  std::vector<StyleRequest> open;
  for (const auto& [id, r] : rows) {
    if (r.status == StyleStatus::kPending || r.status == StyleStatus::kQueued ||
        r.status == StyleStatus::kActive)
      open.push_back(r);
  }
  return open;
}

}  // namespace

TEST(StyleQueue, ResumedQueueGoesOnWithTheSlotTheQueueOrderAndThePending) {
  StyleQueue old_home(config(StylePolicy::kApprove));
  std::vector<StyleUpdate> updates;
  for (long long id = 1; id <= 4; ++id) updates.push_back(old_home.submit(request(id, "p"), kT0));
  updates.push_back(old_home.approve(1, kT0 + 1'000));  // plays
  updates.push_back(old_home.approve(3, kT0 + 2'000));
  updates.push_back(old_home.approve(2, kT0 + 3'000));  // after 3: approval order, not arrival

  StyleQueue new_home(config(StylePolicy::kApprove));
  auto u = new_home.resume(stored_open(updates), kT0 + 10'000);
  EXPECT_TRUE(u.changed.empty()) << "a move changes no request";
  auto cur = new_home.current();
  ASSERT_TRUE(cur.request);
  EXPECT_EQ(cur.request->id, 1);
  EXPECT_EQ(cur.started_ms, kT0 + 1'000) << "the slot goes on, it does not restart";
  EXPECT_EQ(cur.ends_ms, kT0 + 1'000 + kSlot);
  EXPECT_EQ(ids(new_home.queued()), (std::vector<long long>{3, 2}));
  EXPECT_EQ(ids(new_home.pending()), (std::vector<long long>{4}));

  // Approved on the new home: it joins behind the queue it took over.
  new_home.approve(4, kT0 + 11'000);
  EXPECT_EQ(ids(new_home.queued()), (std::vector<long long>{3, 2, 4}));
  EXPECT_TRUE(new_home.tick(kT0 + kSlot).changed.empty());
  auto next = new_home.tick(kT0 + 1'000 + kSlot);
  EXPECT_EQ(changed(next, 1).status, StyleStatus::kDone);
  EXPECT_EQ(changed(next, 3).status, StyleStatus::kActive);
}

TEST(StyleQueue, ResumeKeepsTheLatestActiveAndStartsTheQueueWhenNothingPlays) {
  auto active = [](long long id, std::int64_t started) {
    auto r = request(id, "p");
    r.status = StyleStatus::kActive;
    r.started_ms = started;
    return r;
  };
  StyleQueue q(config(StylePolicy::kAuto));
  auto u = q.resume({active(1, kT0), active(2, kT0 + 5)}, kT0 + 10);
  ASSERT_TRUE(q.current().request);
  EXPECT_EQ(q.current().request->id, 2);
  EXPECT_EQ(changed(u, 1).status, StyleStatus::kDone);

  auto queued = request(5, "p");
  queued.status = StyleStatus::kQueued;
  queued.queue_order = 9;
  StyleQueue idle(config(StylePolicy::kAuto));
  auto v = idle.resume({queued}, kT0 + 10);
  EXPECT_EQ(changed(v, 5).status, StyleStatus::kActive);
  EXPECT_EQ(changed(v, 5).started_ms, kT0 + 10);
  idle.submit(request(6, "p"), kT0 + 20);
  EXPECT_GT(idle.queued().front().queue_order, 9) << "new requests queue behind resumed ones";
}
