// OutboundQueue (net/outbound_queue.hpp): what a WebSocket peer is sent next, without a socket.
#include "net/outbound_queue.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace ds::net {
namespace {

using Kind = OutboundQueue::Write::Kind;

live::Bytes bytes(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

// Writes everything the queue hands out, one at a time as the session does, and returns it as
// "t:<text>", "b:<binary>", "f:<meta>|<jpeg>" or "close:<code>:<reason>".
std::vector<std::string> drain(OutboundQueue& q) {
  std::vector<std::string> out;
  while (const auto* w = q.next()) {
    switch (w->kind) {
      case Kind::kText:
        out.push_back("t:" + *w->data);
        break;
      case Kind::kBinary:
        out.push_back("b:" + *w->data);
        break;
      case Kind::kFrame:
        out.push_back("f:" + (w->data ? *w->data : std::string()) + "|" + *w->jpeg);
        break;
      case Kind::kClose:
        out.push_back("close:" + std::to_string(q.close_code()) + ":" + q.close_reason());
        return out;  // the session never calls written() for the close frame
    }
    q.written();
  }
  return out;
}

void push_group(OutboundQueue& q, std::string text, std::vector<std::string> binaries) {
  live::Bytes t = text.empty() ? nullptr : bytes(std::move(text));
  std::vector<live::Bytes> bs;
  for (auto& b : binaries) bs.push_back(bytes(std::move(b)));
  ASSERT_TRUE(q.admit_ordered(t, bs));
  ASSERT_TRUE(q.push_ordered(std::move(t), std::move(bs)));
}

TEST(OutboundQueue, TextsGoBeforeOrderedGroupsWhichGoBeforeTheFrame) {
  OutboundQueue q;
  q.push_frame(bytes("meta"), bytes("jpeg"));
  push_group(q, "job1", {"img1"});
  push_group(q, "job2", {"img2a", "img2b"});
  q.push_text(bytes("state"));
  q.push_text(bytes("chat"));
  EXPECT_EQ(drain(q), (std::vector<std::string>{"t:state", "t:chat", "t:job1", "b:img1", "t:job2",
                                                "b:img2a", "b:img2b", "t:meta", "b:jpeg"}));
}

TEST(OutboundQueue, AGroupsBinariesFollowItsTextEvenWhenATextArrivesBetween) {
  OutboundQueue q;
  push_group(q, "job", {"a", "b"});
  const auto* w = q.next();
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(*w->data, "job");
  q.push_text(bytes("state"));  // arrives while the job's text is being written
  q.written();
  EXPECT_EQ(drain(q), (std::vector<std::string>{"b:a", "b:b", "t:state"}));
}

TEST(OutboundQueue, ASplitFramesJpegFollowsItsMetaEvenWhenATextArrivesBetween) {
  OutboundQueue q;
  q.push_frame(bytes("meta"), bytes("jpeg"));
  const auto* w = q.next();
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->kind, Kind::kText);
  q.push_text(bytes("state"));
  q.written();
  EXPECT_EQ(drain(q), (std::vector<std::string>{"b:jpeg", "t:state"}));
}

TEST(OutboundQueue, AFrameWithoutMetaIsOneBinary) {
  OutboundQueue q;
  q.push_frame(nullptr, bytes("jpeg"));
  EXPECT_EQ(drain(q), (std::vector<std::string>{"b:jpeg"}));
}

TEST(OutboundQueue, InlineFramesAreOneMessageWithMetaAndJpeg) {
  OutboundQueue q;
  q.set_inline_frames(true);
  q.push_frame(bytes("meta"), bytes("jpeg"));
  EXPECT_EQ(drain(q), (std::vector<std::string>{"f:meta|jpeg"}));
}

TEST(OutboundQueue, OneWriteInFlightAtATime) {
  OutboundQueue q;
  q.push_text(bytes("a"));
  q.push_text(bytes("b"));
  ASSERT_NE(q.next(), nullptr);
  EXPECT_TRUE(q.writing());
  EXPECT_EQ(q.next(), nullptr);
  q.written();
  EXPECT_FALSE(q.writing());
  EXPECT_EQ(drain(q), (std::vector<std::string>{"t:b"}));
}

TEST(OutboundQueue, TheNewestFrameReplacesOneStillWaiting) {
  OutboundQueue q;
  EXPECT_TRUE(q.push_frame(bytes("m1"), bytes("j1")));   // wake the owner
  EXPECT_FALSE(q.push_frame(bytes("m2"), bytes("j2")));  // a wake-up is already pending
  q.take_wake();
  EXPECT_TRUE(q.push_frame(bytes("m3"), bytes("j3")));
  EXPECT_EQ(drain(q), (std::vector<std::string>{"t:m3", "b:j3"}));
}

TEST(OutboundQueue, ASlowViewerHoldsAtMostTheFrameBeingWrittenAndTheNewest) {
  OutboundQueue q;
  q.set_inline_frames(true);
  q.push_frame(bytes("m1"), bytes("j1"));
  const auto* w = q.next();  // written slowly
  ASSERT_NE(w, nullptr);
  auto first = w->jpeg;
  std::weak_ptr<const std::string> replaced;
  {
    auto j2 = bytes("j2");
    replaced = j2;
    q.push_frame(bytes("m2"), std::move(j2));
  }
  q.push_frame(bytes("m3"), bytes("j3"));
  EXPECT_TRUE(replaced.expired()) << "a replaced frame is let go of at once";
  EXPECT_EQ(q.next(), nullptr);
  EXPECT_EQ(*first, "j1");
  q.written();
  EXPECT_EQ(drain(q), (std::vector<std::string>{"f:m3|j3"}));
}

TEST(OutboundQueue, FramesFromManyThreadsLeaveOneNewestFrame) {
  OutboundQueue q;
  std::vector<std::thread> senders;
  for (int t = 0; t < 4; ++t) {
    senders.emplace_back([&q, t] {
      for (int i = 0; i < 1000; ++i) q.push_frame(nullptr, bytes(std::to_string(t)));
    });
  }
  for (auto& s : senders) s.join();
  auto out = drain(q);
  ASSERT_EQ(out.size(), 1u);
}

TEST(OutboundQueue, PastTheTextBoundTheOldestTextsAreDropped) {
  OutboundQueue q(OutboundQueue::Limits{.max_texts = 3});
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(q.push_text(bytes(std::to_string(i))));
  EXPECT_EQ(q.texts_waiting(), 3u);
  EXPECT_EQ(drain(q), (std::vector<std::string>{"t:2", "t:3", "t:4"}));
}

TEST(OutboundQueue, OrderedGroupsAreCountedUntilWritten) {
  OutboundQueue q;
  push_group(q, "job", {std::string(100, 'j')});
  EXPECT_EQ(q.queued().messages, 2u);
  EXPECT_EQ(q.queued().bytes, 103u);
  ASSERT_NE(q.next(), nullptr);
  EXPECT_EQ(q.queued().messages, 2u) << "a message counts while it is being written";
  q.written();
  EXPECT_EQ(q.queued().messages, 1u);
  EXPECT_EQ(q.queued().bytes, 100u);
  ASSERT_NE(q.next(), nullptr);
  q.written();
  EXPECT_EQ(q.queued().messages, 0u);
  EXPECT_EQ(q.queued().bytes, 0u);
}

TEST(OutboundQueue, AGroupOverTheBudgetIsRefusedAndNotCounted) {
  OutboundQueue q(OutboundQueue::Limits{.ordered = {.max_messages = 3, .max_bytes = 1000}});
  push_group(q, "a", {std::string(500, 'x')});
  std::vector<live::Bytes> big{bytes(std::string(600, 'y'))};
  EXPECT_FALSE(q.admit_ordered(bytes("b"), big)) << "over the byte bound";
  std::vector<live::Bytes> two{bytes("1"), bytes("2")};
  EXPECT_FALSE(q.admit_ordered(bytes("c"), two)) << "over the message bound";
  EXPECT_EQ(q.queued().messages, 2u);
  EXPECT_EQ(q.queued().bytes, 501u);
}

TEST(OutboundQueue, TextsAndFramesDoNotCountInTheBudget) {
  OutboundQueue q;
  q.push_text(bytes("state"));
  q.push_frame(bytes("meta"), bytes("jpeg"));
  EXPECT_EQ(q.queued().messages, 0u);
  EXPECT_EQ(q.queued().bytes, 0u);
}

TEST(OutboundQueue, CloseComesAfterTheQueuedTextsAndDropsGroupsAndTheFrame) {
  OutboundQueue q;
  q.push_text(bytes("bye"));
  push_group(q, "job", {"img"});
  q.push_frame(bytes("meta"), bytes("jpeg"));
  EXPECT_TRUE(q.close(4002, "ended"));
  EXPECT_TRUE(q.closing());
  EXPECT_EQ(q.queued().messages, 0u) << "the dropped group left the budget";
  EXPECT_EQ(q.queued().bytes, 0u);
  EXPECT_FALSE(q.close(1000, "again")) << "the first close wins";
  EXPECT_FALSE(q.push_text(bytes("late")));
  EXPECT_FALSE(q.push_frame(bytes("late"), bytes("late")));
  std::vector<live::Bytes> late{bytes("late")};
  ASSERT_TRUE(q.admit_ordered(bytes("late"), late));
  EXPECT_FALSE(q.push_ordered(bytes("late"), late));
  EXPECT_EQ(q.queued().messages, 0u) << "a refused group leaves the budget";
  EXPECT_EQ(drain(q), (std::vector<std::string>{"t:bye", "close:4002:ended"}));
  EXPECT_EQ(q.next(), nullptr) << "nothing after the close frame";
}

TEST(OutboundQueue, CloseWaitsForTheRestOfAGroupBeingWritten) {
  OutboundQueue q;
  push_group(q, "job", {"img"});
  ASSERT_NE(q.next(), nullptr);  // the job's text is being written
  q.close(4002, "ended");
  // The binary that followed it is dropped with the queue; the text in flight still counts
  // until written.
  EXPECT_EQ(q.queued().messages, 1u);
  q.written();
  EXPECT_EQ(q.queued().messages, 0u);
  EXPECT_EQ(drain(q), (std::vector<std::string>{"close:4002:ended"}));
}

TEST(OutboundQueue, ClearLetsGoOfEverythingButTheWriteInFlight) {
  OutboundQueue q;
  push_group(q, "job", {"img"});
  push_group(q, "job2", {"img2"});
  q.push_text(bytes("state"));
  const auto* w = q.next();
  ASSERT_NE(w, nullptr);
  q.clear();
  EXPECT_TRUE(q.writing());
  EXPECT_EQ(*w->data, "state") << "the buffer being written stays valid";
  EXPECT_EQ(q.queued().messages, 0u);
  q.written();
  EXPECT_EQ(q.next(), nullptr);
  EXPECT_FALSE(q.push_text(bytes("late")));
  EXPECT_FALSE(q.push_frame(nullptr, bytes("late")));
  EXPECT_EQ(q.queued().bytes, 0u);
}

}  // namespace
}  // namespace ds::net

namespace ds::net {
namespace {

// A video unit as live::VideoHub shares it: its bytes, and its two wire headers.
video::UnitPtr unit(std::string data, bool key) {
  auto u = std::make_shared<video::AccessUnit>();
  u->data = std::move(data);
  u->keyframe = key;
  u->config = key;
  u->header = bytes("H");
  u->header_decode_only = bytes("D");
  return u;
}

}  // namespace

TEST(OutboundQueue, AVideoViewerGetsJpegFramesUntilItsFirstUnitThenOnlyUnits) {
  OutboundQueue q;
  q.set_inline_frames(true);
  EXPECT_TRUE(q.push_frame(bytes("m0"), bytes("j0")));
  EXPECT_FALSE(q.start_video({}));  // no GOP yet: the JPEG stays
  EXPECT_EQ(drain(q), (std::vector<std::string>{"f:m0|j0"}));
  q.take_wake();
  q.push_frame(bytes("m1"), bytes("j1"));
  EXPECT_FALSE(q.push_video(unit("d0", false)));  // a delta before any keyframe: skipped
  q.take_wake();
  EXPECT_TRUE(q.push_video(unit("k1", true)));  // the first unit drops the JPEG waiting
  EXPECT_FALSE(q.push_frame(bytes("m2"), bytes("j2")));
  q.push_video(unit("d1", false));
  q.push_text(bytes("state"));
  EXPECT_EQ(drain(q), (std::vector<std::string>{"t:state", "f:H|k1", "f:H|d1"}));
  EXPECT_EQ(q.video_dropped(), 1);
}

TEST(OutboundQueue, AJoinerGetsTheGopDecodeOnlyButTheLastAndAUnitsBytesAreNotCopied) {
  OutboundQueue q;
  q.push_frame(bytes("m0"), bytes("j0"));
  q.take_wake();
  auto k = unit("k", true);
  auto d = unit("d", false);
  EXPECT_TRUE(q.start_video({{k, true}, {d, false}}));
  const auto* w = q.next();
  ASSERT_TRUE(w);
  EXPECT_EQ(w->kind, Kind::kFrame);
  EXPECT_EQ(*w->data, "D");
  EXPECT_EQ(w->jpeg.get(), &k->data);  // the shared unit's own bytes
  q.written();
  EXPECT_EQ(drain(q), (std::vector<std::string>{"f:H|d"}));  // the JPEG was dropped
}

TEST(OutboundQueue, ASlowVideoViewerSkipsToTheNextKeyframeWithBoundedMemory) {
  OutboundQueue q;
  q.start_video({}, video::FeedLimits{3, 1 << 20});
  q.push_video(unit("k1", true));
  q.push_video(unit("d1", false));
  q.push_video(unit("d2", false));
  q.push_video(unit("d3", false));  // past 3 waiting: all dropped, wait for a keyframe
  q.push_video(unit("d4", false));
  EXPECT_EQ(drain(q), std::vector<std::string>{});
  q.push_video(unit("k2", true));
  q.push_video(unit("d5", false));
  EXPECT_EQ(drain(q), (std::vector<std::string>{"f:H|k2", "f:H|d5"}));
  q.clear();
  EXPECT_FALSE(q.push_video(unit("k3", true)));
}

}  // namespace ds::net
