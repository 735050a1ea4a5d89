#include "live/protocol.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "domain/text.hpp"

using namespace ds;
using namespace ds::live::wire;
using ds::live::EndReason;
using ds::live::StreamState;

TEST(Protocol, JobIdsAreCanonical) {
  EXPECT_EQ(parse_job_id("j1"), 1u);
  EXPECT_EQ(parse_job_id("j9999999999999999999"), 9999999999999999999ull);  // 19 digits
  EXPECT_FALSE(parse_job_id("j18446744073709551615"));                      // 20: too long
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
  auto r = parse_worker_text(
      nlohmann::json{{"type", "result"}, {"job_id", "j1"}, {"timings", t}}.dump());
  ASSERT_TRUE(r);
  EXPECT_EQ(std::get<ResultHeader>(*r).timings.size(), kMaxTimings);
}

TEST(Protocol, MistypedOrUnknownMessagesAreErrorsNotExceptions) {
  for (const char* bad :
       {"", "null", "[]", "5", "\"hello\"", R"({"type":5})", R"({"type":"nope"})",
        R"({"type":"error","job_id":"j1","message":5})", "{\"type\":\"hello\"", "\xff\xfe"}) {
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

// ---- encoders ------------------------------------------------------------------------------

namespace {

nlohmann::json decoded(const ds::live::Bytes& b) { return nlohmann::json::parse(*b); }

}  // namespace

TEST(ProtocolEncode, ViewerEventsCarryTheirTypeAndFields) {
  EXPECT_EQ(decoded(encode_state(StreamState::kLive)),
            (nlohmann::json{{"type", "state"}, {"state", "live"}}));
  EXPECT_EQ(decoded(encode_viewers(12)), (nlohmann::json{{"type", "viewers"}, {"count", 12}}));
  EXPECT_EQ(decoded(encode_comment_deleted(5)),
            (nlohmann::json{{"type", "comment_deleted"}, {"id", 5}}));
  nlohmann::json c = {{"id", 5}, {"body", "hi"}};
  EXPECT_EQ(decoded(encode_comment(c)), (nlohmann::json{{"type", "comment"}, {"comment", c}}));
  nlohmann::json st = {{"current", nullptr}};
  EXPECT_EQ(decoded(encode_styles(st)), (nlohmann::json{{"type", "styles"}, {"styles", st}}));
  nlohmann::json set = {{"comments_enabled", true}};
  EXPECT_EQ(decoded(encode_settings(set)),
            (nlohmann::json{{"type", "settings"}, {"settings", set}}));
  EXPECT_EQ(decoded(encode_ended(EndReason::kReplaced, "replaced by a newer connection")),
            (nlohmann::json{{"type", "ended"},
                            {"reason", "replaced"},
                            {"message", "replaced by a newer connection"}}));
  EXPECT_EQ(
      decoded(encode_error("bad_frame", "not a JPEG image")),
      (nlohmann::json{{"type", "error"}, {"code", "bad_frame"}, {"message", "not a JPEG image"}}));
}

TEST(ProtocolEncode, FrameHeaderCarriesTimingsOnlyWhenGiven) {
  auto plain = decoded(encode_frame_header({42, 1000, 1500, nlohmann::json()}));
  EXPECT_EQ(plain,
            (nlohmann::json{
                {"type", "frame"}, {"seq", 42}, {"captured_ms", 1000}, {"processed_ms", 1500}}));
  auto timed = decoded(encode_frame_header({1, 2, 3, {{"infer_ms", 4.5}}}));
  EXPECT_EQ(timed["timings"]["infer_ms"], 4.5);
}

TEST(ProtocolEncode, StatusRoundsRatesAndMergesExtra) {
  Status s;
  s.state = StreamState::kLive;
  s.stream_id = 7;
  s.viewers = 3;
  s.frames_in = 120;
  s.fps_in = 14.96;
  s.fps_out = 1.94;
  s.model_ms = 480.4;
  s.workers_total = 2;
  s.workers_busy = 1;
  s.extra = {{"balance_cents", 1180}};
  auto j = decoded(encode_status(s));
  EXPECT_EQ(j["type"], "status");
  EXPECT_EQ(j["stream_id"], 7);
  EXPECT_EQ(j["fps_in"], 15.0);
  EXPECT_EQ(j["fps_out"], 1.9);
  EXPECT_EQ(j["model_ms"], 480);
  EXPECT_EQ(j["workers"], (nlohmann::json{{"total", 2}, {"busy", 1}}));
  EXPECT_EQ(j["balance_cents"], 1180);
}

TEST(ProtocolEncode, JobHasCanonicalIdAndParams) {
  Job job;
  job.job_id = 812;
  job.stream = "alice";
  job.seq = 42;
  job.captured_ms = 10;
  job.deadline_ms = 20;
  job.prompt = "watercolour";
  job.strength = 0.6;
  job.seed = 1234;
  auto j = decoded(encode_job(job));
  EXPECT_EQ(j["type"], "job");
  EXPECT_EQ(j["job_id"], "j812");
  EXPECT_EQ(j["stream"], "alice");
  EXPECT_EQ(j["deadline_ms"], 20);
  EXPECT_EQ(j["params"],
            (nlohmann::json{{"prompt", "watercolour"}, {"strength", 0.6}, {"seed", 1234}}));
  EXPECT_EQ(
      decoded(encode_welcome("gpu-1")),
      (nlohmann::json{{"type", "welcome"}, {"name", "gpu-1"}, {"slots", 1}, {"max_batch", 1}}));
}

TEST(ProtocolEncode, WorkerAnswersRoundTripThroughTheServerDecoder) {
  auto hello = parse_worker_text(*encode_hello("gpu-1", "cpu"));
  ASSERT_TRUE(hello);
  EXPECT_EQ(std::get<Hello>(*hello).name, "gpu-1");
  EXPECT_EQ(decoded(encode_hello("gpu-1", "cpu"))["protocol"], kProtocolVersion);

  auto result = decoded(encode_result("j3", {1.234, 2.0, 3.456}));
  EXPECT_EQ(result["timings"]["decode_ms"], 1.23);
  EXPECT_EQ(result["timings"]["encode_ms"], 3.46);
  auto parsed = parse_worker_text(result.dump());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(std::get<ResultHeader>(*parsed).job_id, 3u);

  auto err = parse_worker_text(*encode_job_error("j4", "backend_failed", "boom"));
  ASSERT_TRUE(err);
  EXPECT_EQ(std::get<JobError>(*err).message, "boom");
  // A job id the worker got in another form is echoed as it came; none is left out.
  EXPECT_EQ(decoded(encode_job_error(5, "busy", "x"))["job_id"], 5);
  EXPECT_FALSE(decoded(encode_result(nullptr, {}))["job_id"].is_string());
  EXPECT_FALSE(decoded(encode_job_error(nullptr, "busy", "x")).contains("job_id"));
}

// ---- the worker's decoder of server messages -----------------------------------------------

TEST(ProtocolDecode, WorkerReadsJobsAndWelcomes) {
  Job job;
  job.job_id = 9;
  job.stream = "bob";
  job.seq = 3;
  job.prompt = "toon";
  auto parsed = parse_server_text(*encode_job(job));
  ASSERT_TRUE(parsed);
  auto& h = std::get<JobHeader>(*parsed);
  EXPECT_EQ(h.job_id, "j9");
  EXPECT_EQ(h.stream, "bob");
  EXPECT_EQ(h.seq, 3);
  EXPECT_EQ(h.params["prompt"], "toon");

  auto w = parse_server_text(R"({"type":"welcome","worker_id":"w5","job_timeout_ms":20000})");
  ASSERT_TRUE(w);
  EXPECT_EQ(std::get<Welcome>(*w).worker_id, "w5");
  EXPECT_EQ(std::get<Welcome>(*w).job_timeout_ms, 20000);
  auto e = parse_server_text(*encode_error("unknown_job", "no such job"));
  ASSERT_TRUE(e);
  EXPECT_EQ(std::get<ServerError>(*e).code, "unknown_job");
}

TEST(ProtocolDecode, WorkerShrugsOffOddServerMessagesWithoutThrowing) {
  auto other = parse_server_text(R"({"type":"something_new"})");
  ASSERT_TRUE(other);
  EXPECT_EQ(std::get<OtherMessage>(*other).type, "something_new");
  // Mistyped fields are left empty rather than thrown over.
  auto job = parse_server_text(R"({"type":"job","job_id":"extra","stream":5,"seq":"x"})");
  ASSERT_TRUE(job);
  EXPECT_EQ(std::get<JobHeader>(*job).job_id, "extra");
  EXPECT_EQ(std::get<JobHeader>(*job).stream, "");
  EXPECT_FALSE(std::get<JobHeader>(*job).seq);
  for (const char* bad : {"", "[]", R"({"type":5})", "{", "\xff"}) {
    EXPECT_FALSE(parse_server_text(bad)) << bad;
  }
}

// ---- close codes ---------------------------------------------------------------------------

TEST(ProtocolCloseCodes, ErrorsMapToTheirCloseCodes) {
  EXPECT_EQ(close_code_for(unauthorized()), CloseCode::kUnauthorized);
  EXPECT_EQ(close_code_for(Error{ErrorKind::kPaymentRequired, "insufficient_credits", ""}),
            CloseCode::kNoCredits);
  EXPECT_EQ(close_code_for(forbidden()), CloseCode::kForbidden);
  EXPECT_EQ(close_code_for(not_found()), CloseCode::kNotFound);
  EXPECT_EQ(close_code_for(Error{ErrorKind::kUnavailable, "database_unavailable", ""}),
            CloseCode::kTryAgain);
  EXPECT_EQ(close_code_for(Error{ErrorKind::kConflict, "already_live", ""}), CloseCode::kConflict);
}

TEST(ProtocolCloseCodes, TableIsOrderedAndNamed) {
  int last = 0;
  for (const auto& c : close_codes()) {
    EXPECT_GT(code_value(c.code), last);
    last = code_value(c.code);
    EXPECT_FALSE(c.name.empty());
    EXPECT_FALSE(c.meaning.empty());
  }
  EXPECT_EQ(close_codes().size(), 16u);
}

// docs/protocol.md's close-code table lists exactly the codes of CloseCode. The docs folder is
// the source tree's, or DS_DOCS_DIR.
TEST(ProtocolCloseCodes, DocumentedTableMatchesTheEnum) {
  std::filesystem::path docs = std::getenv("DS_DOCS_DIR")
                                   ? std::filesystem::path(std::getenv("DS_DOCS_DIR"))
                                   : std::filesystem::path(DS_SOURCE_DIR) / "docs";
  std::ifstream in(docs / "protocol.md");
  ASSERT_TRUE(in) << "docs/protocol.md not found in " << docs << " (set DS_DOCS_DIR)";
  // Rows of the table look like "| 4001 | replaced | …": the same codes, with the same names.
  std::map<int, std::string> documented;
  std::regex row(R"(^\|\s*(\d{4})\s*\|\s*`?(\w+)`?\s*\|)");
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m, row)) documented[std::stoi(m[1])] = m[2];
  }
  std::map<int, std::string> in_code;
  for (const auto& c : close_codes()) in_code[code_value(c.code)] = std::string(c.name);
  EXPECT_EQ(documented, in_code);
}

TEST(Protocol, HelloSlotsAndMaxBatchAreCheckedIntegersInRange) {
  auto r = parse_worker_text(R"({"type":"hello","slots":2,"max_batch":16})");
  ASSERT_TRUE(r);
  EXPECT_EQ(std::get<Hello>(*r).slots, 2);
  EXPECT_EQ(std::get<Hello>(*r).max_batch, 16);
  auto d = parse_worker_text(R"({"type":"hello"})");
  ASSERT_TRUE(d);
  EXPECT_EQ(std::get<Hello>(*d).slots, 1);
  EXPECT_EQ(std::get<Hello>(*d).max_batch, 1);
  for (const char* bad :
       {R"({"type":"hello","slots":0})", R"({"type":"hello","slots":9})",
        R"({"type":"hello","slots":"2"})", R"({"type":"hello","slots":1.5})",
        R"({"type":"hello","slots":-1})", R"({"type":"hello","max_batch":17})",
        R"({"type":"hello","max_batch":0})", R"({"type":"hello","max_batch":null})",
        R"({"type":"hello","slots":99999999999999999999})"}) {
    auto e = parse_worker_text(bad);
    ASSERT_FALSE(e) << bad;
    EXPECT_EQ(e.error().code, "bad_message") << bad;
  }
}

TEST(Protocol, CancelledNeedsAStrictJobId) {
  auto r = parse_worker_text(R"({"type":"cancelled","job_id":"j12"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(std::get<Cancelled>(*r).job_id, 12u);
  EXPECT_FALSE(parse_worker_text(R"({"type":"cancelled"})"));
  EXPECT_FALSE(parse_worker_text(R"({"type":"cancelled","job_id":"j0"})"));
  EXPECT_FALSE(parse_worker_text(R"({"type":"cancelled","job_id":12})"));
}

TEST(Protocol, BatchHoldsJobsWithoutTheirTypeAndCancelNamesOne) {
  std::vector<Job> jobs(2);
  jobs[0].job_id = 7;
  jobs[0].stream = "alice";
  jobs[0].seq = 3;
  jobs[0].prompt = "toon";
  jobs[1].job_id = 8;
  jobs[1].stream = "bob";
  auto b = nlohmann::json::parse(*encode_batch(jobs));
  EXPECT_EQ(b["type"], "batch");
  ASSERT_EQ(b["jobs"].size(), 2u);
  auto single = nlohmann::json::parse(*encode_job(jobs[0]));
  single.erase("type");
  EXPECT_EQ(b["jobs"][0], single);
  EXPECT_EQ(b["jobs"][1]["job_id"], "j8");
  auto c = nlohmann::json::parse(*encode_cancel(8));
  EXPECT_EQ(c, (nlohmann::json{{"type", "cancel"}, {"job_id", "j8"}}));
  auto w = nlohmann::json::parse(*encode_welcome("gpu", 2, 4));
  EXPECT_EQ(w["slots"], 2);
  EXPECT_EQ(w["max_batch"], 4);
}

// ---- the worker's side of slots, batches and cancel ----------------------------------------

TEST(ProtocolEncode, HelloAnnouncesSlotsAndMaxBatchOnlyAboveOne) {
  auto plain = nlohmann::json::parse(*encode_hello("gpu-1", "cpu"));
  EXPECT_FALSE(plain.contains("slots"));
  EXPECT_FALSE(plain.contains("max_batch"));
  auto both = encode_hello("gpu-1", "cpu", 2, 8);
  EXPECT_EQ(nlohmann::json::parse(*both)["slots"], 2);
  auto parsed = parse_worker_text(*both);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(std::get<Hello>(*parsed).slots, 2);
  EXPECT_EQ(std::get<Hello>(*parsed).max_batch, 8);
}

TEST(ProtocolEncode, CancelledAndBatchTimingsRoundTripThroughTheServerDecoder) {
  auto cancelled = parse_worker_text(*encode_cancelled("j12"));
  ASSERT_TRUE(cancelled);
  EXPECT_EQ(std::get<Cancelled>(*cancelled).job_id, 12u);
  EXPECT_FALSE(nlohmann::json::parse(*encode_cancelled(nullptr)).contains("job_id"));

  auto result = parse_worker_text(*encode_result("j3", {1, 300, 2, 4}));
  ASSERT_TRUE(result);
  EXPECT_EQ(std::get<ResultHeader>(*result).timings["batch"], 4);
  EXPECT_FALSE(nlohmann::json::parse(*encode_result("j3", {}))["timings"].contains("batch"));
}

TEST(ProtocolDecode, WorkerReadsBatchesInOrderAndCancels) {
  std::vector<Job> jobs(3);
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    jobs[i].job_id = 20 + i;
    jobs[i].stream = "s" + std::to_string(i);
    jobs[i].seq = 5 + i;
    jobs[i].prompt = "p" + std::to_string(i);
  }
  auto parsed = parse_server_text(*encode_batch(jobs));
  ASSERT_TRUE(parsed);
  const auto& batch = std::get<BatchHeader>(*parsed).jobs;
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_EQ(batch[0].job_id, "j20");
  EXPECT_EQ(batch[2].job_id, "j22");
  EXPECT_EQ(batch[1].stream, "s1");
  EXPECT_EQ(batch[1].seq, 6);
  EXPECT_EQ(batch[2].params["prompt"], "p2");

  auto cancel = parse_server_text(*encode_cancel(21));
  ASSERT_TRUE(cancel);
  EXPECT_EQ(std::get<Cancel>(*cancel).job_id, "j21");

  auto w = parse_server_text(*encode_welcome("gpu", 2, 4));
  ASSERT_TRUE(w);
  EXPECT_EQ(std::get<Welcome>(*w).slots, 2);
  EXPECT_EQ(std::get<Welcome>(*w).max_batch, 4);
}

TEST(ProtocolDecode, ABatchWhoseJpegCountIsUnclearIsABadMessage) {
  for (const char* bad :
       {R"({"type":"batch"})", R"({"type":"batch","jobs":[]})", R"({"type":"batch","jobs":{}})",
        R"({"type":"batch","jobs":[{"job_id":"j1"},5]})"}) {
    auto e = parse_server_text(bad);
    ASSERT_FALSE(e) << bad;
    EXPECT_EQ(e.error().code, "bad_message") << bad;
  }
  std::string too_many = R"({"type":"batch","jobs":[)";
  for (int i = 0; i <= kMaxBatch; ++i) too_many += std::string(i ? "," : "") + "{}";
  EXPECT_FALSE(parse_server_text(too_many + "]}"));
  // Mistyped fields of a job are left empty, as in a job message.
  auto odd = parse_server_text(R"({"type":"batch","jobs":[{"stream":5,"seq":"x"}]})");
  ASSERT_TRUE(odd);
  EXPECT_TRUE(std::get<BatchHeader>(*odd).jobs[0].job_id.is_null());
  EXPECT_EQ(std::get<BatchHeader>(*odd).jobs[0].stream, "");
  auto no_id = parse_server_text(R"({"type":"cancel"})");
  ASSERT_TRUE(no_id);
  EXPECT_TRUE(std::get<Cancel>(*no_id).job_id.is_null());
}

TEST(Protocol, StreamerMessagesDecodeTypedAndLeniently) {
  Status st;
  st.state = StreamState::kLive;
  st.viewers = 3;
  auto status = parse_streamer_text(*encode_status(st));
  ASSERT_TRUE(status.ok());
  ASSERT_TRUE(std::holds_alternative<StreamStatus>(*status));
  EXPECT_EQ(std::get<StreamStatus>(*status).fields["viewers"], 3);

  auto ended = parse_streamer_text(*encode_ended(EndReason::kNoCredits, "out of credits"));
  ASSERT_TRUE(ended.ok());
  EXPECT_EQ(std::get<StreamEnded>(*ended).reason, "no_credits");
  EXPECT_EQ(std::get<StreamEnded>(*ended).message, "out of credits");

  auto error = parse_streamer_text(*encode_error("bad_frame", "not a JPEG"));
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(std::get<StreamError>(*error).code, "bad_frame");

  auto frame = parse_streamer_text(*encode_frame_header({7, 1, 2, {}}));
  ASSERT_TRUE(frame.ok());
  EXPECT_TRUE(std::holds_alternative<ProcessedFrameNote>(*frame));

  auto viewers = parse_streamer_text(*encode_viewers(4));
  ASSERT_TRUE(viewers.ok());
  EXPECT_EQ(std::get<OtherStreamerMessage>(*viewers).type, "viewers");

  // Wrong-typed fields read as absent; what is not an object with a type is an error.
  auto odd = parse_streamer_text(R"({"type":"ended","reason":5,"message":["x"]})");
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(std::get<StreamEnded>(*odd).reason, "");
  EXPECT_FALSE(parse_streamer_text(R"({"type":7})").ok());
  EXPECT_FALSE(parse_streamer_text("[1,2]").ok());
  EXPECT_FALSE(parse_streamer_text("{").ok());
  EXPECT_FALSE(
      parse_streamer_text(std::string(100, '[') + std::string(100, ']')).ok());  // too deep
}

TEST(StreamStates, EveryStateAndReasonHasOneSpellingBothWays) {
  for (auto s :
       {StreamState::kOffline, StreamState::kWaiting, StreamState::kLive, StreamState::kEnded}) {
    EXPECT_EQ(ds::live::parse_stream_state(ds::live::to_string(s)), s);
  }
  for (auto r : {EndReason::kStopped, EndReason::kNoCredits, EndReason::kInterrupted,
                 EndReason::kServerShutdown, EndReason::kReplaced, EndReason::kRevoked}) {
    EXPECT_EQ(ds::live::parse_end_reason(ds::live::to_string(r)), r);
  }
  EXPECT_EQ(ds::live::to_string(EndReason::kNoCredits), "no_credits");
  EXPECT_EQ(ds::live::parse_stream_state("paused"), std::nullopt);  // a newer server's
  EXPECT_EQ(ds::live::parse_end_reason(""), std::nullopt);
}

TEST(StreamStates, ARelayedEventIsReadByItsTypeNotItsSpelling) {
  auto state = parse_relayed_event(*encode_state(StreamState::kEnded));
  ASSERT_TRUE(state);
  EXPECT_EQ(state->type, "state");
  EXPECT_EQ(state->state, StreamState::kEnded);
  // Key order does not matter, nor does a comment whose body mentions a state event.
  auto reordered = parse_relayed_event(R"({"type":"state","state":"live"})");
  ASSERT_TRUE(reordered);
  EXPECT_EQ(reordered->state, StreamState::kLive);
  auto comment =
      parse_relayed_event(R"({"comment":{"body":"\"type\":\"state\""},"type":"comment"})");
  ASSERT_TRUE(comment);
  EXPECT_EQ(comment->type, "comment");
  EXPECT_EQ(comment->state, std::nullopt);
  EXPECT_EQ(parse_relayed_event(R"({"type":"state","state":"paused"})")->state, std::nullopt);
  EXPECT_FALSE(parse_relayed_event("not json"));
  EXPECT_FALSE(parse_relayed_event(R"(["type","state"])"));
}
