// The node-to-node messages (cluster/node_wire): each encodes and parses back to itself, with
// named fields, and anything malformed parses to nothing.
#include "cluster/node_wire.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace ds;
using namespace ds::cluster::wire;
using ds::live::StreamState;

TEST(NodeWire, NamesAreBuiltFromOnePrefixEach) {
  EXPECT_EQ(frame_key(42), "ds:f:42");
  EXPECT_EQ(node_key("a"), "ds:node:a");
  EXPECT_EQ(node_channel("a"), "ds:n:a");
  EXPECT_EQ(stream_channel("ann"), "ds:c:ann");
  EXPECT_EQ(viewers_key("ann"), "ds:v:ann");
  EXPECT_EQ(lease_key("end:7"), "ds:lease:end:7");
  EXPECT_EQ(stream_of_channel("ds:c:ann"), "ann");
  EXPECT_FALSE(stream_of_channel("ds:n:ann"));
  EXPECT_FALSE(stream_of_channel(kAllChannel));
}

TEST(NodeWire, AnOfferRoundTripsWithNamedFields) {
  live::FrameOffer f{
      7, "ann", 9, 1234, {"ink \"wash\"\n", 0.25, -3}, live::make_bytes("\xff\xd8jpeg")};
  auto text = encode_offer(f);
  EXPECT_NE(text.find("\"session_id\":7"), std::string::npos);
  EXPECT_NE(text.find("\"captured_ms\":1234"), std::string::npos);
  auto back = parse_offer(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->session_id, 7);
  EXPECT_EQ(back->username, "ann");
  EXPECT_EQ(back->seq, 9u);
  EXPECT_EQ(back->captured_ms, 1234);
  EXPECT_EQ(back->style.prompt, "ink \"wash\"\n");
  EXPECT_DOUBLE_EQ(back->style.strength, 0.25);
  EXPECT_EQ(back->style.seed, -3);
  EXPECT_EQ(*back->jpeg, "\xff\xd8jpeg");
  EXPECT_FALSE(parse_offer("{\"session_id\":7}\njpeg"));  // fields missing
  EXPECT_FALSE(parse_offer("no newline"));
  EXPECT_FALSE(parse_offer("[1,2]\nx"));
}

TEST(NodeWire, ChannelMessagesRoundTrip) {
  auto text = parse_channel_message(encode(TextMessage{"node-a", R"({"type":"viewers"})"}), "ann");
  ASSERT_TRUE(text);
  ASSERT_TRUE(std::holds_alternative<TextMessage>(*text));
  EXPECT_EQ(std::get<TextMessage>(*text).from, "node-a");
  EXPECT_EQ(std::get<TextMessage>(*text).text, R"({"type":"viewers"})");

  live::FrameResult r{
      3, "ann", 11, 100, 150, 42.5, {{"infer_ms", 40}}, live::make_bytes("JPEG\n\n")};
  auto result = parse_channel_message(encode(ResultMessage{"node-b", r}), "ann");
  ASSERT_TRUE(result);
  ASSERT_TRUE(std::holds_alternative<ResultMessage>(*result));
  const auto& m = std::get<ResultMessage>(*result);
  EXPECT_EQ(m.from, "node-b");
  EXPECT_EQ(m.result.session_id, 3);
  EXPECT_EQ(m.result.username, "ann");  // from the channel
  EXPECT_EQ(m.result.seq, 11u);
  EXPECT_EQ(m.result.captured_ms, 100);
  EXPECT_EQ(m.result.processed_ms, 150);
  EXPECT_DOUBLE_EQ(m.result.model_ms, 42.5);
  EXPECT_EQ(m.result.timings["infer_ms"], 40);
  EXPECT_EQ(*m.result.jpeg, "JPEG\n\n");

  for (const char* junk :
       {"", "T", "Tnode-a", "T\nno sender", "Fnode\n{}\nx", "Fnode\nnot json\nx", "Xnode\nwhat"}) {
    EXPECT_FALSE(parse_channel_message(junk, "ann")) << junk;
  }
}

TEST(NodeWire, CallsRepliesAndBroadcastsRoundTrip) {
  std::string body("a\nb\0c", 5);
  auto call = parse_node_message(
      encode(CallMessage{17, "node-a", 1'700'000'000'123,
                         live::make_call(live::CallOp::kRelease, {{"session_id", 5}}, body)}));
  ASSERT_TRUE(call);
  ASSERT_TRUE(std::holds_alternative<CallMessage>(*call));
  const auto& c = std::get<CallMessage>(*call);
  EXPECT_EQ(c.id, 17u);
  EXPECT_EQ(c.from, "node-a");
  EXPECT_EQ(c.deadline_ms, 1'700'000'000'123);
  EXPECT_EQ(live::call_op(c.call), live::CallOp::kRelease);
  EXPECT_EQ(c.call.header["session_id"], 5);
  EXPECT_EQ(c.call.body, body);

  auto reply = parse_node_message(encode(ReplyMessage{17, {{{"ok", true}}, "x"}}));
  ASSERT_TRUE(reply);
  ASSERT_TRUE(std::holds_alternative<ReplyMessage>(*reply));
  EXPECT_EQ(std::get<ReplyMessage>(*reply).id, 17u);
  EXPECT_EQ(std::get<ReplyMessage>(*reply).reply.header["ok"], true);

  auto b =
      parse_broadcast(encode(BroadcastMessage{"node-c", live::make_call(live::CallOp::kRevoke)}));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->from, "node-c");
  EXPECT_EQ(live::call_op(b->message), live::CallOp::kRevoke);

  for (const char* junk : {"", "Q", "Q1 a\n{}\n", "Qx a 5\n{}\n", "Q1 a 5x\n{}\n", "Q1  5\n{}\n",
                           "Rnope\n{}\n", "R1\nnot json\n", "Z1\n{}\n"}) {
    EXPECT_FALSE(parse_node_message(junk)) << junk;
  }
  EXPECT_FALSE(parse_broadcast("B\n{}\n"));
  EXPECT_FALSE(parse_broadcast("Q1 a 5\n{}\n"));
}

TEST(NodeWire, ASupersedeRoundTripsAndJunkDoesNotParse) {
  auto m = parse_node_message(encode(SupersedeMessage{"node-a", 1'234'567'890'123, 42}));
  ASSERT_TRUE(m);
  ASSERT_TRUE(std::holds_alternative<SupersedeMessage>(*m));
  const auto& x = std::get<SupersedeMessage>(*m);
  EXPECT_EQ(x.from, "node-a");
  EXPECT_EQ(x.session_id, 1'234'567'890'123);
  EXPECT_EQ(x.seq, 42u);
  EXPECT_EQ(held_key(7), "ds:held:7");
  for (const char* junk :
       {"S", "Snode-a", "Snode-a 5", "S 5 6", "Snode-a x 6", "Snode-a 5 x", "Snode-a 0 6",
        "Snode-a -5 6", "Snode-a 5 6\n", "Snode-a 5 -6", "Snode-a 5 6 7"}) {
    EXPECT_FALSE(parse_node_message(junk)) << junk;
  }
  EXPECT_FALSE(parse_broadcast(encode(SupersedeMessage{"node-a", 5, 6})));
}

TEST(NodeWire, CallOpsHaveOneNameEach) {
  for (const auto& [op, name] : live::kCallOpNames) {
    auto c = live::make_call(op);
    EXPECT_EQ(c.header["op"], std::string(name));
    EXPECT_EQ(live::call_op(c), op);
  }
  EXPECT_FALSE(live::call_op({{{"op", "format_disk"}}, {}}));
  EXPECT_FALSE(live::call_op({{{"op", 3}}, {}}));
  EXPECT_FALSE(live::call_op({nlohmann::json::object(), {}}));
}

TEST(NodeWire, AnAnnouncedStreamRoundTrips) {
  live::StreamSnapshot s;
  s.session_id = 4;
  s.user_id = 5;
  s.username = "ann";
  s.display_name = "Ann";
  s.state = StreamState::kLive;
  s.viewers = 3;
  s.frames_skipped = 2;
  s.style = {"ink", 0.5, 8};
  auto back = parse_announced(announced_json("node-a", 99, s).dump());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->node, "node-a");
  EXPECT_EQ(back->updated_ms, 99);
  EXPECT_EQ(back->snapshot.session_id, 4);
  EXPECT_EQ(back->snapshot.username, "ann");
  EXPECT_EQ(back->snapshot.viewers, 3);
  EXPECT_EQ(back->snapshot.frames_skipped, 2u);
  EXPECT_EQ(back->snapshot.style.prompt, "ink");
  EXPECT_FALSE(parse_announced(R"({"node":"a","ms":1,"s":{}})"));
}
