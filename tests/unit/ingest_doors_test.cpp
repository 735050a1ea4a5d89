// The two doors a streamer's frames come through, /ws/ingest (live::IngestEndpoint, with a fake
// peer) and POST /api/ingest/frame (the real route through api::dispatch), refuse and accept the
// same cases with the same error codes: both call live::IngestRules.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "api/app.hpp"
#include "api/forward.hpp"
#include "auth/auth_service.hpp"
#include "auth/crypto.hpp"
#include "fake_peer.hpp"
#include "live/credential_watch.hpp"
#include "live/hub.hpp"
#include "live/ingest_endpoint.hpp"
#include "live/stream_service.hpp"
#include "payments/credit_history.hpp"
#include "store/ledger.hpp"
#include "temp_database.hpp"
#include "tiny_jpeg.hpp"

using namespace ds;

namespace {

constexpr std::size_t kMaxFrameBytes = 256;

struct IngestDoorsTest : ::testing::Test {
  static void SetUpTestSuite() { auth::init_crypto(); }

  IngestDoorsTest() {
    app.hub = &hub;
    app.streams = &streams;
    app.credentials = &credentials;
    app.frame_limits = limits;
    api::register_streams_routes(router, app);
    alice = *auth.register_user("alice", "a@example.com", "long enough password", "", "192.0.2.1");
    bob = *auth.register_user("bobby", "b@example.com", "long enough password", "", "192.0.2.1");
    alice_key = auth.rotate_stream_key(alice.id);
    bob_key = auth.rotate_stream_key(bob.id);
    // bobby has spent his credits: he cannot go live.
    tmp.db().write([&](soci::session& sql) {
      store::append_entry(sql, bob.id, store::kKindAdminAdjustment, -bob.balance_cents, {}, 0);
    });
  }

  // What a door answered: "accepted", or the error code it refused with.
  struct Answer {
    std::string code;
    int status_or_close = 0;  // HTTP status, or the close code of a refused connect
  };

  // The socket: connect with the key (as a Bearer header), then one message.
  Answer ws(std::optional<std::string> key, std::string frame, bool binary = true) {
    live::ConnectRequest req;
    req.bearer = std::move(key);
    auto peer = std::make_shared<test::FakePeer>();
    auto connected = endpoint.connect(req, peer);
    if (auto* r = std::get_if<live::Rejection>(&connected)) {
      return {r->error, live::wire::code_value(r->code)};
    }
    auto& ctx = std::get<live::IngestContext>(connected);
    auto before = hub.snapshot(ctx.username)->frames_in;
    endpoint.on_message(ctx, peer, binary, std::move(frame));
    Answer a{"accepted", 0};
    if (!peer->texts.empty()) a = {peer->last_text()["code"], peer->close_code};
    if (a.code == "accepted") {
      EXPECT_EQ(hub.snapshot(ctx.username)->frames_in, before + 1);
    }
    endpoint.on_closed(ctx, *peer, 0);  // the line drops: the stream stays for its grace period
    return a;
  }

  // The request: the key as a Bearer header, the frame as an image/jpeg body.
  Answer http(std::optional<std::string> key, std::string frame) {
    api::Request req;
    req.method = "POST";
    req.path = req.target = "/api/ingest/frame";
    req.headers = {{"host", "127.0.0.1:8080"}, {"content-type", "image/jpeg"}};
    if (key) req.headers.emplace_back("authorization", "Bearer " + *key);
    req.body = std::move(frame);
    auto res = api::dispatch(router, app, req);
    if (res.status == 202) return {"accepted", 202};
    return {nlohmann::json::parse(res.body)["error"]["code"], res.status};
  }

  test::TempDatabase tmp;
  ManualClock clock;
  live::Hub hub{clock};
  auth::AuthService auth{tmp.db(), clock};
  live::StreamService streams{tmp.db(), hub, clock};
  live::CredentialWatch credentials;
  domain::JpegLimits limits{kMaxFrameBytes, 4096};
  live::IngestEndpoint endpoint{hub,  streams, credentials,
                                auth, nullptr, live::IngestConfig{limits, 10}};
  payments::CreditHistory credits{tmp.db()};
  api::App app{auth, credits, clock, api::ApiConfig{}};
  api::Router router;
  store::User alice;
  store::User bob;
  std::string alice_key;
  std::string bob_key;
};

std::string oversized_jpeg() {
  std::string j = test::tiny_jpeg();
  return j + std::string(kMaxFrameBytes, '\0');  // padding after EOI is allowed, size is not
}

}  // namespace

TEST_F(IngestDoorsTest, BothDoorsAnswerEveryCaseWithTheSameCode) {
  struct Case {
    const char* what;
    std::optional<std::string> key;
    std::string frame;
    const char* code;
  };
  const Case cases[] = {
      {"no key", std::nullopt, test::tiny_jpeg(), "unauthorized"},
      {"a key that is no one's", std::string("dsk_not_a_key"), test::tiny_jpeg(), "unauthorized"},
      {"a streamer without credits", bob_key, test::tiny_jpeg(), "insufficient_credits"},
      {"not a JPEG", alice_key, "hello", "bad_frame"},
      {"a truncated JPEG", alice_key, test::tiny_jpeg().substr(0, 14), "bad_frame"},
      {"a JPEG over the size limit", alice_key, oversized_jpeg(), "too_large"},
      {"a JPEG", alice_key, test::tiny_jpeg(), "accepted"},
  };
  for (const auto& c : cases) {
    auto over_ws = ws(c.key, c.frame);
    auto over_http = http(c.key, c.frame);
    EXPECT_EQ(over_ws.code, c.code) << c.what << " (WebSocket)";
    EXPECT_EQ(over_http.code, c.code) << c.what << " (HTTP)";
  }
  EXPECT_FALSE(hub.snapshot("bobby")) << "a refused streamer never went live";
  EXPECT_EQ(hub.snapshot("alice")->frames_in, 2u) << "one accepted frame per door";
}

TEST_F(IngestDoorsTest, ARefusalMapsToTheSameKindOnEachDoor) {
  // The same Error, answered in each door's own terms (live::wire::close_code_for,
  // api::http_status).
  auto over_ws = ws(bob_key, test::tiny_jpeg());
  auto over_http = http(bob_key, test::tiny_jpeg());
  EXPECT_EQ(over_ws.status_or_close, live::wire::code_value(live::wire::CloseCode::kNoCredits));
  EXPECT_EQ(over_http.status_or_close, 402);
  over_ws = ws(std::string("dsk_not_a_key"), test::tiny_jpeg());
  over_http = http(std::string("dsk_not_a_key"), test::tiny_jpeg());
  EXPECT_EQ(over_ws.status_or_close, live::wire::code_value(live::wire::CloseCode::kUnauthorized));
  EXPECT_EQ(over_http.status_or_close, 401);
}

TEST_F(IngestDoorsTest, AFrameForAStreamNotActiveIsRefusedNotStarted) {
  // The socket's stream ends under it: its next frame is refused, as the rules' push_frame
  // refuses any door's frame for a stream that is not active.
  live::ConnectRequest req;
  req.bearer = alice_key;
  auto peer = std::make_shared<test::FakePeer>();
  auto connected = endpoint.connect(req, peer);
  ASSERT_TRUE(std::holds_alternative<live::IngestContext>(connected));
  ASSERT_TRUE(streams.stop(alice.id));
  endpoint.on_message(std::get<live::IngestContext>(connected), peer, true, test::tiny_jpeg());
  EXPECT_EQ(peer->last_text()["code"], "not_started");
  live::IngestRules rules(auth, streams, hub, limits);
  auto pushed = rules.push_frame("alice", test::tiny_jpeg());
  ASSERT_FALSE(pushed);
  EXPECT_EQ(pushed.error().code, "not_started");
  EXPECT_EQ(pushed.error().kind, ErrorKind::kConflict);
  // The HTTP door goes live again, as a reconnecting socket with the key would.
  EXPECT_EQ(http(alice_key, test::tiny_jpeg()).code, "accepted");
}

// Many nodes: another node issues alice a new key and tells every node. Its news ends her
// sockets that came with the old key; a socket that connected here with the new key before the
// news arrived stays (it ended too, and her stream with it, until the news carried the key).
TEST_F(IngestDoorsTest, NewsOfANewKeyEndsTheOldKeysSocketsOnly) {
  auto connect = [&](const std::string& key, const std::shared_ptr<test::FakePeer>& peer) {
    live::ConnectRequest req;
    req.bearer = key;
    auto connected = endpoint.connect(req, peer);
    EXPECT_TRUE(std::holds_alternative<live::IngestContext>(connected));
    return connected;
  };
  auto old_peer = std::make_shared<test::FakePeer>();
  auto old_socket = connect(alice_key, old_peer);
  std::string replaced;
  auto new_key = auth.rotate_stream_key(alice.id, &replaced);  // on the other node
  auto news = api::encode_revocation({api::Revocation::Kind::kStreamKey, alice.id, 0, replaced});
  EXPECT_EQ(api::serve_revocation(app, news).header.value("ok", false), true);
  auto revoked = [](const test::FakePeer& p) {
    return std::any_of(p.texts.begin(), p.texts.end(), [](const std::string& t) {
      return nlohmann::json::parse(t).value("reason", "") == "revoked";
    });
  };
  EXPECT_TRUE(revoked(*old_peer));
  EXPECT_NE(old_peer->close_code, 0);
  endpoint.on_closed(std::get<live::IngestContext>(old_socket), *old_peer, 0);

  auto new_peer = std::make_shared<test::FakePeer>();
  auto new_socket = connect(new_key, new_peer);
  ASSERT_TRUE(hub.snapshot("alice"));
  auto session = hub.snapshot("alice")->session_id;
  EXPECT_EQ(api::serve_revocation(app, news).header.value("ok", false), true);  // heard late
  EXPECT_FALSE(revoked(*new_peer));
  EXPECT_EQ(new_peer->close_code, 0) << "the new key's socket stays";
  ASSERT_TRUE(hub.snapshot("alice")) << "and so does the stream";
  EXPECT_EQ(hub.snapshot("alice")->session_id, session);
  EXPECT_TRUE(hub.snapshot("alice")->has_ingest);
  endpoint.on_closed(std::get<live::IngestContext>(new_socket), *new_peer, 0);
}
