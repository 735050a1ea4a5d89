#include <gtest/gtest.h>

#include "domain/text.hpp"
#include "live/protocol.hpp"

using namespace ds;
using namespace ds::live::wire;

TEST(Protocol, JobIdsAreCanonical) {
  EXPECT_EQ(parse_job_id("j1"), 1u);
  EXPECT_EQ(parse_job_id("j9999999999999999999"), 9999999999999999999ull);  // 19 digits
  EXPECT_FALSE(parse_job_id("j18446744073709551615"));                    // 20: too long
  EXPECT_FALSE(parse_job_id("j0"));
  EXPECT_FALSE(parse_job_id("j01"));
  EXPECT_FALSE(parse_job_id("j"));
  EXPECT_FALSE(parse_job_id("j-1"));
  EXPECT_FALSE(parse_job_id("J1"));
  EXPECT_FALSE(parse_job_id("j18446744073709551616"));  // overflow
  EXPECT_FALSE(parse_job_id("j1 "));
  EXPECT_EQ(job_id_text(42), "j42");
  EXPECT_EQ(parse_job_id(job_id_text(987654321)), 987654321u);
}

// Regression (issue 8 item 3): a non-string name used to throw out of an io thread.
TEST(Protocol, HelloWithNonStringNameIsAnError) {
  auto r = parse_worker_text(R"({"type":"hello","name":5})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "bad_message");
}

// Regression (issue 8 item 3): cutting at 60 bytes inside "é" made dump() throw.
TEST(Protocol, LongNameIsCutAtACharacterBoundary) {
  std::string name(59, 'a');
  name += "\xC3\xA9";
  auto r = parse_worker_text(nlohmann::json{{"type", "hello"}, {"name", name}}.dump());
  ASSERT_TRUE(r);
  auto& h = std::get<Hello>(*r);
  EXPECT_EQ(h.name, std::string(59, 'a'));
  EXPECT_TRUE(domain::is_valid_utf8(h.name));
  EXPECT_NO_THROW(nlohmann::json(h.name).dump());
}

TEST(Protocol, HelloNameLosesControlCharacters) {
  auto r = parse_worker_text(R"({"type":"hello","name":"gpu\n1"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(std::get<Hello>(*r).name, "gpu 1");
}

TEST(Protocol, ResultNeedsAStrictJobId) {
  EXPECT_FALSE(parse_worker_text(R"({"type":"result"})"));
  EXPECT_FALSE(parse_worker_text(R"({"type":"result","job_id":7})"));
  EXPECT_FALSE(parse_worker_text(R"({"type":"result","job_id":"j0"})"));
  EXPECT_FALSE(parse_worker_text(R"({"type":"error","job_id":null})"));
  auto r = parse_worker_text(R"({"type":"result","job_id":"j7"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(std::get<ResultHeader>(*r).job_id, 7u);
}

// Regression (issue 8 item 13): timings were copied and dumped however deeply nested.
TEST(Protocol, TimingsKeepOnlyFlatNumbersAndNestingIsBounded) {
  auto r = parse_worker_text(
      R"({"type":"result","job_id":"j3","timings":{"model_ms":41.5,"deep":{"a":{"b":1}},"s":"x"}})");
  ASSERT_TRUE(r);
  auto& t = std::get<ResultHeader>(*r).timings;
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t["model_ms"], 41.5);

  std::string deep = R"({"type":"result","job_id":"j3","timings":)";
  for (int i = 0; i < 10000; ++i) deep += "[";
  for (int i = 0; i < 10000; ++i) deep += "]";
  deep += "}";
  auto d = parse_worker_text(deep);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, "bad_message");
}

TEST(Protocol, TooManyTimingsAreCut) {
  nlohmann::json t = nlohmann::json::object();
  for (int i = 0; i < 100; ++i) t["k" + std::to_string(i)] = i;
  auto r = parse_worker_text(nlohmann::json{{"type", "result"}, {"job_id", "j1"}, {"timings", t}}.dump());
  ASSERT_TRUE(r);
  EXPECT_EQ(std::get<ResultHeader>(*r).timings.size(), kMaxTimings);
}

TEST(Protocol, MistypedOrUnknownMessagesAreErrorsNotExceptions) {
  for (const char* bad : {"", "null", "[]", "5", "\"hello\"", R"({"type":5})", R"({"type":"nope"})",
                          R"({"type":"error","job_id":"j1","message":5})", "{\"type\":\"hello\"",
                          "\xff\xfe"}) {
    auto r = parse_worker_text(bad);
    EXPECT_FALSE(r) << bad;
  }
  std::string big(kMaxWorkerText + 1, ' ');
  auto r = parse_worker_text(big);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "too_large");
}

TEST(Protocol, IngestTakesOnlyBinaryJpegs) {
  domain::JpegLimits limits;
  auto text = check_ingest_message(false, "hello", limits);
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().code, "bad_frame");
  EXPECT_FALSE(check_ingest_message(true, "not a jpeg", limits));
}

TEST(Protocol, JsonDepthIsLimited) {
  EXPECT_TRUE(parse_json_limited(R"({"a":[1,{"b":2}]})", 3));
  EXPECT_FALSE(parse_json_limited(R"({"a":[1,{"b":2}]})", 2));
  EXPECT_FALSE(parse_json_limited("{", 8));
}
