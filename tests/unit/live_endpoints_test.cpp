// The worker protocol and the ingest rules, driven through live/ endpoints with a fake peer
// (no sockets), like hub_test.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "auth/auth_service.hpp"
#include "auth/crypto.hpp"
#include "fake_peer.hpp"
#include "live/credential_watch.hpp"
#include "live/hub.hpp"
#include "live/ingest_endpoint.hpp"
#include "live/stream_service.hpp"
#include "live/watch_endpoint.hpp"
#include "live/worker_endpoint.hpp"
#include "store/worker_tokens.hpp"
#include "temp_database.hpp"
#include "test_support.hpp"
#include "tiny_jpeg.hpp"

using namespace ds;
using namespace ds::live;

namespace {

using test::FakePeer;
using test::stream;

using test::tiny_jpeg;

struct Services {
  ds::test::TempDatabase tmp;
  ManualClock clock;
  Hub hub{clock};
  auth::AuthService auth{tmp.db(), clock};
  StreamService streams{tmp.db(), hub, clock};
  CredentialWatch credentials;
  Services() { auth::init_crypto(); }
};

struct WorkerEndpointTest : ::testing::Test, Services {
  WorkerEndpoint endpoint{hub, auth, WorkerConfig{{}, {"dsw_configured"}, 10}};
  WorkerContext ctx;
  std::shared_ptr<FakePeer> peer = std::make_shared<FakePeer>();

  void text(const nlohmann::json& j) { endpoint.on_message(ctx, peer, false, j.dump()); }
  void binary(std::string data) { endpoint.on_message(ctx, peer, true, std::move(data)); }
  void hello() { text({{"type", "hello"}, {"name", "gpu-1"}}); }
  std::string job_id() const { return peer->last_job()["job_id"]; }
};

}  // namespace

TEST_F(WorkerEndpointTest, HelloIsWelcomedThenAWaitingFrameComesAsAJob) {
  hub.open_stream(stream(1, "alice"));
  hub.push_frame("alice", make_bytes("raw"));
  hello();
  ASSERT_EQ(peer->texts.size(), 1u);
  EXPECT_EQ(
      peer->last_text(),
      (nlohmann::json{{"type", "welcome"}, {"name", "gpu-1"}, {"slots", 1}, {"max_batch", 1}}));
  EXPECT_NE(ctx.worker_id, 0);
  ASSERT_EQ(peer->frames.size(), 1u);
  EXPECT_EQ(peer->last_job()["type"], "job");
  EXPECT_EQ(peer->frames.back().second, "raw");
  hello();  // a second hello changes nothing
  EXPECT_EQ(peer->texts.size(), 1u);
  EXPECT_EQ(hub.worker_counts().total, 1);
}

TEST_F(WorkerEndpointTest, ResultHeaderAndJpegReachTheViewers) {
  hub.open_stream(stream(1, "alice"));
  auto viewer = std::make_shared<FakePeer>();
  hub.add_viewer("alice", viewer);
  hello();
  hub.push_frame("alice", make_bytes("raw"));
  text({{"type", "result"}, {"job_id", job_id()}, {"timings", {{"infer_ms", 4}}}});
  EXPECT_TRUE(ctx.pending);
  binary(tiny_jpeg());
  EXPECT_FALSE(ctx.pending);
  ASSERT_EQ(viewer->frames.size(), 1u);
  EXPECT_EQ(viewer->frames[0].second, tiny_jpeg());
  EXPECT_EQ(nlohmann::json::parse(viewer->frames[0].first)["timings"]["infer_ms"], 4);
  EXPECT_EQ(hub.snapshot("alice")->frames_out, 1u);
  EXPECT_EQ(peer->texts.size(), 1u);  // only the welcome: nothing to complain about
}

TEST_F(WorkerEndpointTest, BinaryWithoutAHeaderIsRefused) {
  hello();
  binary(tiny_jpeg());
  EXPECT_EQ(peer->last_text()["code"], "unexpected_binary");
  EXPECT_EQ(peer->close_code, 0);
}

TEST_F(WorkerEndpointTest, BinaryBeforeHelloIsRefused) {
  text({{"type", "result"}, {"job_id", "j1"}});
  binary(tiny_jpeg());
  EXPECT_EQ(peer->last_text()["code"], "unexpected_binary");
}

TEST_F(WorkerEndpointTest, ResultForAJobNotHeldIsUnknown) {
  hello();
  text({{"type", "result"}, {"job_id", "j999"}});
  binary(tiny_jpeg());
  EXPECT_EQ(peer->last_text()["code"], "unknown_job");
  text({{"type", "error"}, {"job_id", "j999"}, {"message", "x"}});
  EXPECT_EQ(peer->last_text()["code"], "unknown_job");
}

TEST_F(WorkerEndpointTest, ErrorMessageFreesTheWorkerForTheNextFrame) {
  hub.open_stream(stream(1, "alice"));
  hello();
  hub.push_frame("alice", make_bytes("f1"));
  auto first = job_id();
  hub.push_frame("alice", make_bytes("f2"));
  text({{"type", "error"}, {"job_id", first}, {"code", "backend_failed"}, {"message", "oom"}});
  EXPECT_EQ(hub.totals().jobs_failed, 1u);
  ASSERT_EQ(peer->frames.size(), 2u);
  EXPECT_EQ(peer->frames.back().second, "f2");
  EXPECT_NE(job_id(), first);
}

TEST_F(WorkerEndpointTest, ResultThatIsNotAJpegIsAnErrorAndFreesTheWorker) {
  hub.open_stream(stream(1, "alice"));
  hello();
  hub.push_frame("alice", make_bytes("f1"));
  text({{"type", "result"}, {"job_id", job_id()}});
  binary("not a jpeg");
  EXPECT_EQ(peer->last_text()["code"], "bad_result");
  EXPECT_EQ(hub.totals().jobs_failed, 1u);
  EXPECT_EQ(hub.worker_counts().busy, 0);
}

TEST_F(WorkerEndpointTest, TenBadMessagesInARowClose1008) {
  hello();
  for (int i = 0; i < 9; ++i) endpoint.on_message(ctx, peer, false, "{nope");
  EXPECT_EQ(peer->last_text()["code"], "bad_message");
  EXPECT_EQ(peer->close_code, 0);
  hello();  // a good message resets the count
  for (int i = 0; i < 9; ++i) endpoint.on_message(ctx, peer, false, R"({"type":"nope"})");
  EXPECT_EQ(peer->close_code, 0);
  endpoint.on_message(ctx, peer, false, R"({"type":"nope"})");
  EXPECT_EQ(peer->close_code, 1008);
}

TEST_F(WorkerEndpointTest, ClosingRemovesTheWorker) {
  hello();
  EXPECT_EQ(hub.worker_counts().total, 1);
  endpoint.on_closed(ctx, *peer);
  EXPECT_EQ(hub.worker_counts().total, 0);
}

TEST_F(WorkerEndpointTest, ConnectNeedsAWorkerToken) {
  ConnectRequest req;
  auto refused = endpoint.connect(req);
  ASSERT_TRUE(std::holds_alternative<Rejection>(refused));
  EXPECT_EQ(std::get<Rejection>(refused).code, wire::CloseCode::kUnauthorized);
  EXPECT_EQ(std::get<Rejection>(refused).error, "unauthorized");

  req.bearer = "dsw_wrong";
  EXPECT_TRUE(std::holds_alternative<Rejection>(endpoint.connect(req)));
  req.bearer = "dsw_configured";
  req.remote_addr = "192.0.2.7";
  auto ok = endpoint.connect(req);
  ASSERT_TRUE(std::holds_alternative<WorkerContext>(ok));
  EXPECT_EQ(std::get<WorkerContext>(ok).remote_addr, "192.0.2.7");

  tmp.db().write([&](soci::session& sql) {
    store::insert_worker_token(sql, "box", auth::sha256_hex("dsw_in_database"), 0);
  });
  ConnectRequest by_query;
  by_query.query_token = "dsw_in_database";
  EXPECT_TRUE(std::holds_alternative<WorkerContext>(endpoint.connect(by_query)));
}

// ---- ingest ----------------------------------------------------------------------------------

namespace {

struct IngestEndpointTest : ::testing::Test, Services {
  IngestEndpoint endpoint{hub, streams, credentials, auth, nullptr, IngestConfig{{}, 10}};
  IngestContext ctx;
  std::shared_ptr<FakePeer> peer = std::make_shared<FakePeer>();
  store::User user;

  void SetUp() override {
    user = *auth.register_user("alice", "a@example.com", "long enough password", "", "192.0.2.1");
    ctx.username = "alice";
    ctx.user_id = user.id;
  }
  void frame(std::string data, bool binary = true) {
    endpoint.on_message(ctx, peer, binary, std::move(data));
  }
};

}  // namespace

TEST_F(IngestEndpointTest, JpegFramesGoToTheHub) {
  hub.open_stream(stream(1, "alice"));
  frame(tiny_jpeg());
  EXPECT_EQ(hub.snapshot("alice")->frames_in, 1u);
  EXPECT_TRUE(peer->texts.empty());
}

TEST_F(IngestEndpointTest, TextAndNonJpegAreBadFrames) {
  hub.open_stream(stream(1, "alice"));
  frame("hello", false);
  EXPECT_EQ(peer->last_text()["code"], "bad_frame");
  frame("not a jpeg");
  EXPECT_EQ(peer->last_text()["code"], "bad_frame");
  EXPECT_EQ(hub.snapshot("alice")->frames_in, 0u);
  EXPECT_EQ(peer->close_code, 0);
}

TEST_F(IngestEndpointTest, TenBadFramesInARowClose1008) {
  hub.open_stream(stream(1, "alice"));
  for (int i = 0; i < 9; ++i) frame("bad");
  frame(tiny_jpeg());  // resets the count
  for (int i = 0; i < 9; ++i) frame("bad");
  EXPECT_EQ(peer->close_code, 0);
  frame("bad");
  EXPECT_EQ(peer->close_code, 1008);
}

TEST_F(IngestEndpointTest, FrameForAStreamNotActiveCloses4002) {
  frame(tiny_jpeg());
  EXPECT_EQ(peer->last_text()["code"], "not_started");
  EXPECT_EQ(peer->close_code, 4002);
}

TEST_F(IngestEndpointTest, StreamKeyStartsTheStreamAndAttaches) {
  ConnectRequest req;
  req.bearer = auth.rotate_stream_key(user.id);
  auto ok = endpoint.connect(req, peer);
  ASSERT_TRUE(std::holds_alternative<IngestContext>(ok));
  EXPECT_EQ(std::get<IngestContext>(ok).username, "alice");
  EXPECT_TRUE(hub.snapshot("alice")->has_ingest);
  EXPECT_EQ(credentials.size(), 1u);
  // The line dropped (no close frame): the stream waits for a reconnect (the grace period).
  EXPECT_EQ(endpoint.on_closed(std::get<IngestContext>(ok), *peer, 0), 0);
  EXPECT_FALSE(hub.snapshot("alice")->has_ingest);
  EXPECT_EQ(credentials.size(), 0u);
}

TEST_F(IngestEndpointTest, AGoodbyeEndsTheStreamCompletedAndOtherClosesDoNot) {
  ConnectRequest req;
  req.bearer = auth.rotate_stream_key(user.id);
  // 1001 (a tab going away) and 1011 are no goodbye: the stream stays for the grace period.
  for (int code : {1001, 1011, 4000}) {
    auto ok = endpoint.connect(req, peer);
    ASSERT_TRUE(std::holds_alternative<IngestContext>(ok));
    EXPECT_EQ(endpoint.on_closed(std::get<IngestContext>(ok), *peer, code), 0) << code;
    ASSERT_TRUE(hub.snapshot("alice")) << code;
  }
  auto ok = endpoint.connect(req, peer);
  ASSERT_TRUE(std::holds_alternative<IngestContext>(ok));
  auto& ctx = std::get<IngestContext>(ok);
  frame(tiny_jpeg());
  auto session_id = endpoint.on_closed(ctx, *peer, 1000);
  EXPECT_EQ(session_id, hub.snapshot("alice")->session_id);
  endpoint.end_stream(ctx, session_id);
  EXPECT_FALSE(hub.snapshot("alice"));
  auto history = streams.sessions(user.id, 0, 10);
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0].status, "completed");
  EXPECT_EQ(history[0].id, session_id);
}

TEST_F(IngestEndpointTest, AGoodbyeFromAReplacedSocketLeavesTheNewerOneStreaming) {
  ConnectRequest req;
  req.bearer = auth.rotate_stream_key(user.id);
  auto first = endpoint.connect(req, peer);
  ASSERT_TRUE(std::holds_alternative<IngestContext>(first));
  auto newer = std::make_shared<FakePeer>();
  auto second = endpoint.connect(req, newer);
  ASSERT_TRUE(std::holds_alternative<IngestContext>(second));
  EXPECT_EQ(endpoint.on_closed(std::get<IngestContext>(first), *peer, 1000), 0);
  EXPECT_TRUE(hub.snapshot("alice")->has_ingest);
  // A goodbye for a stream that already ended (stopped from the studio meanwhile) ends nothing.
  auto session_id = hub.snapshot("alice")->session_id;
  ASSERT_TRUE(streams.stop(user.id));
  endpoint.end_stream(std::get<IngestContext>(second), session_id);
  ASSERT_TRUE(streams.start(user));
  endpoint.end_stream(std::get<IngestContext>(second), session_id);  // the old session's id
  EXPECT_TRUE(hub.snapshot("alice")) << "a new stream is not ended by an old goodbye";
}

TEST_F(IngestEndpointTest, ConnectRefusalsCarryTheirCloseCodes) {
  auto code = [&](const ConnectRequest& r) {
    auto result = endpoint.connect(r, peer);
    EXPECT_TRUE(std::holds_alternative<Rejection>(result));
    return std::holds_alternative<Rejection>(result) ? std::get<Rejection>(result).code
                                                     : wire::CloseCode::kNormal;
  };
  ConnectRequest none;
  EXPECT_EQ(code(none), wire::CloseCode::kUnauthorized);
  ConnectRequest bad_key;
  bad_key.query_key = "dsk_wrong";
  EXPECT_EQ(code(bad_key), wire::CloseCode::kUnauthorized);

  auto login = auth.login("alice", "long enough password", "192.0.2.1", "test");
  ASSERT_TRUE(login);
  ConnectRequest cookie;
  cookie.session_cookie = login->session_token;
  EXPECT_EQ(code(cookie), wire::CloseCode::kForbidden);  // no allowed Origin
  cookie.origin_allowed = true;
  EXPECT_EQ(code(cookie), wire::CloseCode::kConflict);  // start the stream first
  EXPECT_EQ(credentials.size(), 0u);
}

TEST_F(IngestEndpointTest, ATicketStartsTheStreamOnceAndLeavesTheStreamKeyAlone) {
  auto key = auth.rotate_stream_key(user.id);
  auto login = auth.login("alice", "long enough password", "192.0.2.1", "test");
  ASSERT_TRUE(login);
  auto caller = auth.from_session_token(login->session_token);
  ASSERT_TRUE(caller);
  auto ticket = auth.create_ingest_ticket(*caller);
  ASSERT_TRUE(ticket);
  EXPECT_TRUE(ticket->ticket.starts_with("dit_"));
  EXPECT_EQ(ticket->expires_in_ms, 60'000);

  ConnectRequest req;
  req.query_ticket = ticket->ticket;
  auto ok = endpoint.connect(req, peer);
  ASSERT_TRUE(std::holds_alternative<IngestContext>(ok));
  EXPECT_TRUE(hub.snapshot("alice")->has_ingest);
  // Tied to the session that asked for it: a logout ends the socket; a new key does not.
  EXPECT_TRUE(credentials.revoke_stream_key(user.id, auth::sha256_hex("another key")).empty());
  EXPECT_EQ(credentials.revoke_session(caller->session_id), std::vector<long long>{user.id});
  endpoint.on_closed(std::get<IngestContext>(ok), *peer, 0);

  auto again = endpoint.connect(req, std::make_shared<FakePeer>());  // used up
  ASSERT_TRUE(std::holds_alternative<Rejection>(again));
  EXPECT_EQ(std::get<Rejection>(again).code, wire::CloseCode::kUnauthorized);
  EXPECT_TRUE(auth.from_stream_key(key));  // the key was never touched
}

TEST_F(IngestEndpointTest, ExpiredForgedOrOrphanedTicketsAreRefused) {
  auto refused = [&](const std::string& ticket) {
    ConnectRequest req;
    req.query_ticket = ticket;
    auto r = endpoint.connect(req, std::make_shared<FakePeer>());
    return std::holds_alternative<Rejection>(r) &&
           std::get<Rejection>(r).code == wire::CloseCode::kUnauthorized;
  };
  auto login = auth.login("alice", "long enough password", "192.0.2.1", "test");
  ASSERT_TRUE(login);
  auto session = *auth.from_session_token(login->session_token);
  auto token = auth.create_api_token(user.id, "web app");
  ASSERT_TRUE(token);
  auto app = *auth.from_api_token(token->secret);
  EXPECT_EQ(app.api_token_id, token->id);

  auto expiring = auth.create_ingest_ticket(session)->ticket;
  clock.advance_ms(60'000);
  EXPECT_TRUE(refused(expiring));
  EXPECT_TRUE(refused("dit_forged"));
  EXPECT_TRUE(refused(std::string("dit_") + std::string(200, 'x')));
  EXPECT_TRUE(refused(auth.rotate_stream_key(user.id)));  // a key is no ticket

  auto of_session = auth.create_ingest_ticket(session)->ticket;
  auth.logout(login->session_token);
  EXPECT_TRUE(refused(of_session));
  auto of_token = auth.create_ingest_ticket(app)->ticket;
  ASSERT_TRUE(auth.revoke_api_token(user.id, token->id));
  EXPECT_TRUE(refused(of_token));
  EXPECT_FALSE(hub.snapshot("alice"));  // nothing started
}

TEST_F(IngestEndpointTest, UnusedTicketsPerAccountAreCapped) {
  auto token = auth.create_api_token(user.id, "web app");
  auto app = *auth.from_api_token(token->secret);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(auth.create_ingest_ticket(app));
  auto over = auth.create_ingest_ticket(app);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().kind, ErrorKind::kRateLimited);
  clock.advance_ms(60'000);  // expired ones no longer count
  EXPECT_TRUE(auth.create_ingest_ticket(app));
}

// The connect–rotate race: a revocation between the credential check and the socket's
// registration finds no socket to end; the check after registering must catch it.
TEST_F(IngestEndpointTest, AKeyRotatedWhileConnectingIsRefused) {
  auto key = auth.rotate_stream_key(user.id);
  IngestConfig config{{}, 10};
  config.after_authenticate = [&] {
    std::string replaced;
    auth.rotate_stream_key(user.id, &replaced);
    EXPECT_EQ(replaced, auth::sha256_hex(key));
    EXPECT_TRUE(credentials.revoke_stream_key(user.id, replaced).empty())
        << "nothing registered yet";
  };
  IngestEndpoint racing{hub, streams, credentials, auth, nullptr, config};
  ConnectRequest req;
  req.bearer = key;
  auto result = racing.connect(req, peer);
  ASSERT_TRUE(std::holds_alternative<Rejection>(result));
  EXPECT_EQ(std::get<Rejection>(result).code, wire::CloseCode::kUnauthorized);
  EXPECT_EQ(credentials.size(), 0u);
  EXPECT_FALSE(hub.snapshot("alice") && hub.snapshot("alice")->has_ingest);
}

TEST_F(IngestEndpointTest, ALogoutWhileConnectingIsRefused) {
  auto login = auth.login("alice", "long enough password", "192.0.2.1", "test");
  ASSERT_TRUE(login);
  ASSERT_TRUE(streams.start(user));
  IngestConfig config{{}, 10};
  config.after_authenticate = [&] {
    auth.logout(login->session_token);
    credentials.revoke_session(login->session_id);
  };
  IngestEndpoint racing{hub, streams, credentials, auth, nullptr, config};
  ConnectRequest req;
  req.session_cookie = login->session_token;
  req.origin_allowed = true;
  auto result = racing.connect(req, peer);
  ASSERT_TRUE(std::holds_alternative<Rejection>(result));
  EXPECT_EQ(std::get<Rejection>(result).code, wire::CloseCode::kUnauthorized);
  EXPECT_FALSE(hub.snapshot("alice")->has_ingest);
}

TEST_F(IngestEndpointTest, RecheckEndsACookieIngestWhoseSessionExpired) {
  auto login = auth.login("alice", "long enough password", "192.0.2.1", "test");
  ASSERT_TRUE(login);
  ASSERT_TRUE(streams.start(user));
  ConnectRequest req;
  req.session_cookie = login->session_token;
  req.origin_allowed = true;
  ASSERT_TRUE(std::holds_alternative<IngestContext>(endpoint.connect(req, peer)));
  auto valid = [&](const IngestGrant& g) { return auth.ingest_credential_valid(g); };
  EXPECT_TRUE(credentials.recheck(valid).empty());
  EXPECT_EQ(peer->close_code, 0);
  clock.advance_ms(31LL * 24 * 3600 * 1000);  // past the 30-day session lifetime
  EXPECT_EQ(credentials.recheck(valid), std::vector<long long>{user.id});
  EXPECT_EQ(peer->close_code, 4401);
  EXPECT_EQ(peer->last_text()["reason"], "revoked");
  EXPECT_EQ(credentials.size(), 0u);
}

// A revocation this node never heard of (taken on another node while Redis was away) is found
// in the database; with the database away, nothing ends.
TEST_F(IngestEndpointTest, RecheckFindsARevocationNobodyAnnouncedAndIgnoresAnOutage) {
  ConnectRequest req;
  req.bearer = auth.rotate_stream_key(user.id);
  ASSERT_TRUE(std::holds_alternative<IngestContext>(endpoint.connect(req, peer)));
  auto away = [](const IngestGrant&) -> bool { throw store::DatabaseUnavailable("away"); };
  auth.rotate_stream_key(user.id);  // in the database only
  EXPECT_TRUE(credentials.recheck(away).empty());
  EXPECT_EQ(peer->close_code, 0);
  auto valid = [&](const IngestGrant& g) { return auth.ingest_credential_valid(g); };
  EXPECT_EQ(credentials.recheck(valid), std::vector<long long>{user.id});
  EXPECT_EQ(peer->close_code, 4401);
}

// ---- watch -----------------------------------------------------------------------------------

TEST(WatchEndpoint, UnknownOrInvalidStreamerIs4404) {
  Services s;
  WatchEndpoint endpoint(s.hub, s.auth, nullptr);
  ConnectRequest req;
  for (const char* name : {"nobody", "not a name!", ""}) {
    req.username = name;
    auto r = endpoint.connect(req);
    ASSERT_TRUE(std::holds_alternative<Rejection>(r)) << name;
    EXPECT_EQ(std::get<Rejection>(r).code, wire::CloseCode::kNotFound);
    EXPECT_EQ(std::get<Rejection>(r).error, "not_found");
  }
}

TEST(WatchEndpoint, ViewerJoinsAndTheStreamersOwnPreviewIsNotAudience) {
  Services s;
  ASSERT_TRUE(
      s.auth.register_user("alice", "a@example.com", "long enough password", "", "192.0.2.1"));
  WatchEndpoint endpoint(s.hub, s.auth, nullptr);
  ConnectRequest req;
  req.username = "Alice";  // any letter case
  auto viewer = endpoint.connect(req);
  ASSERT_TRUE(std::holds_alternative<WatchContext>(viewer));
  EXPECT_EQ(std::get<WatchContext>(viewer).username, "alice");
  EXPECT_TRUE(std::get<WatchContext>(viewer).audience);

  auto login = s.auth.login("alice", "long enough password", "192.0.2.1", "test");
  ASSERT_TRUE(login);
  req.session_cookie = login->session_token;
  auto preview = endpoint.connect(req);
  ASSERT_TRUE(std::holds_alternative<WatchContext>(preview));
  EXPECT_FALSE(std::get<WatchContext>(preview).audience);

  auto peer = std::make_shared<FakePeer>();
  endpoint.on_open(std::get<WatchContext>(viewer), peer);
  EXPECT_EQ(nlohmann::json::parse(peer->texts.at(0))["state"], "offline");
  EXPECT_EQ(s.hub.viewer_count("alice"), 1);
  auto own = std::make_shared<FakePeer>();
  endpoint.on_open(std::get<WatchContext>(preview), own);
  EXPECT_EQ(s.hub.viewer_count("alice"), 1);
  endpoint.on_closed(std::get<WatchContext>(viewer), *peer);
  EXPECT_EQ(s.hub.viewer_count("alice"), 0);
}

TEST_F(WorkerEndpointTest, HelloWithSlotsIsWelcomedWithThemAndCancelledIsAnswered) {
  hub.open_stream(stream(1, "alice"));
  text({{"type", "hello"}, {"name", "gpu-1"}, {"slots", 2}, {"max_batch", 1}});
  auto welcome = nlohmann::json::parse(peer->texts.at(0));
  EXPECT_EQ(welcome["slots"], 2);
  EXPECT_EQ(welcome["max_batch"], 1);
  hub.push_frame("alice", make_bytes("f1"));
  hub.push_frame("alice", make_bytes("f2"));
  ASSERT_EQ(peer->frames.size(), 2u);  // two slots: two jobs held
  auto waiting = nlohmann::json::parse(peer->frames[1].first)["job_id"].get<std::string>();
  hub.push_frame("alice", make_bytes("f3"));
  ASSERT_EQ(peer->ordered.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(peer->ordered[0].first)["job_id"], waiting);
  auto texts = peer->texts.size();
  text({{"type", "cancelled"}, {"job_id", waiting}});
  EXPECT_EQ(peer->texts.size(), texts);  // accepted silently
  text({{"type", "cancelled"}, {"job_id", waiting}});
  EXPECT_EQ(peer->last_text()["code"], "unknown_job");
}

TEST_F(WorkerEndpointTest, HelloWithSlotsOutOfRangeIsABadMessage) {
  text({{"type", "hello"}, {"slots", 50}});
  EXPECT_EQ(peer->last_text()["code"], "bad_message");
  EXPECT_EQ(hub.worker_counts().total, 0);
}
