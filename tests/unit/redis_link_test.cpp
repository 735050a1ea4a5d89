// RedisLink and RedisSubscriber against a real redis-server (tests/unit/redis_server.hpp).
#include "cluster/redis_link.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "redis_server.hpp"

using namespace std::chrono_literals;
using ds::cluster::parse_redis_url;
using ds::cluster::RedisAddress;
using ds::cluster::RedisLink;
using ds::cluster::RedisSubscriber;
using ds::cluster::Reply;
using ds::cluster::Script;
using ds::test::eventually;

namespace {

class RedisLinkTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.start()); }

  RedisAddress address() const { return RedisAddress{"127.0.0.1", server_.port(), 0}; }

  static RedisLink::Options fast_reconnect() {
    RedisLink::Options o;
    o.max_backoff = 200ms;
    return o;
  }

  // A started link, connected.
  std::unique_ptr<RedisLink> connected_link(const std::string& name = "test") {
    auto link = std::make_unique<RedisLink>(address(), name, fast_reconnect());
    link->start();
    EXPECT_TRUE(eventually([&] { return link->connected(); }));
    return link;
  }

  ds::test::RedisServer server_;
};

std::int64_t subscribers_of(RedisLink& link, const std::string& channel) {
  auto r = link.call({"PUBSUB", "NUMSUB", channel}, 1s);
  if (!r || r->type != Reply::Type::kArray || r->elements.size() != 2) return -1;
  return r->elements[1].integer;
}

}  // namespace

TEST_F(RedisLinkTest, SetThenGetRoundTripsBinaryPayload) {
  auto link = connected_link();
  std::string payload("a\0b\r\n\0\xff", 7);
  auto set = link->call({"SET", std::string("k\0ey", 4), payload}, 1s);
  ASSERT_TRUE(set);
  EXPECT_EQ(set->type, Reply::Type::kStatus);
  EXPECT_EQ(set->str, "OK");
  auto get = link->call({"GET", std::string("k\0ey", 4)}, 1s);
  ASSERT_TRUE(get);
  EXPECT_EQ(get->type, Reply::Type::kString);
  EXPECT_EQ(get->str, payload);
  auto missing = link->call({"GET", "nothing"}, 1s);
  ASSERT_TRUE(missing);
  EXPECT_TRUE(missing->is_nil());
  EXPECT_GE(link->commands_sent(), 3u);
  EXPECT_GT(link->bytes_sent(), payload.size());
}

TEST_F(RedisLinkTest, PipelinedCommandsRunHandlersInOrder) {
  auto link = connected_link();
  auto sent_before = link->commands_sent();
  auto bytes_before = link->bytes_sent();
  constexpr int kCount = 10'000;
  std::vector<long long> seen;
  seen.reserve(kCount);
  std::atomic<int> done{0};
  for (int i = 0; i < kCount; ++i) {
    link->command({"INCR", "counter"}, [&](std::optional<Reply> r) {
      seen.push_back(r && r->type == Reply::Type::kInteger ? r->integer : -1);
      done++;
    });
  }
  ASSERT_TRUE(eventually([&] { return done.load() == kCount; }, 5s));
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(seen[i], i + 1) << "at " << i;
  EXPECT_EQ(link->commands_sent() - sent_before, static_cast<std::uint64_t>(kCount));
  // "*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n" is 27 bytes.
  EXPECT_EQ(link->bytes_sent() - bytes_before, 27u * kCount);
}

TEST_F(RedisLinkTest, EvalFallsBackToEvalWhenScriptIsNotLoadedThenUsesEvalsha) {
  auto link = connected_link();
  Script script("return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}");
  EXPECT_EQ(script.sha1.size(), 40u);
  auto first = link->call_eval(script, {"n"}, {"x"}, 1s);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->type, Reply::Type::kArray) << first->str;
  ASSERT_EQ(first->elements.size(), 3u);
  EXPECT_EQ(first->elements[0].str, "n");
  EXPECT_EQ(first->elements[1].str, "x");
  EXPECT_EQ(first->elements[2].integer, 1);

  // Redis forgets the script behind the link's back: EVALSHA gets NOSCRIPT, EVAL follows.
  ASSERT_TRUE(link->call({"SCRIPT", "FLUSH"}, 1s));
  auto sent = link->commands_sent();
  auto second = link->call_eval(script, {"n"}, {"y"}, 1s);
  ASSERT_TRUE(second);
  ASSERT_EQ(second->type, Reply::Type::kArray) << second->str;
  EXPECT_EQ(second->elements[1].str, "y");
  EXPECT_EQ(second->elements[2].integer, 2);
  EXPECT_EQ(link->commands_sent(), sent + 2);

  auto loaded = link->call({"SCRIPT", "EXISTS", script.sha1}, 1s);
  ASSERT_TRUE(loaded);
  ASSERT_EQ(loaded->elements.size(), 1u);
  EXPECT_EQ(loaded->elements[0].integer, 1);

  // Loaded again by that EVAL: one EVALSHA is enough.
  sent = link->commands_sent();
  auto third = link->call_eval(script, {"n"}, {"z"}, 1s);
  ASSERT_TRUE(third);
  ASSERT_EQ(third->type, Reply::Type::kArray);
  EXPECT_EQ(third->elements[2].integer, 3);
  EXPECT_EQ(link->commands_sent(), sent + 1);
}

TEST_F(RedisLinkTest, ScriptsRunInQueueOrderOnAFreshConnection) {
  auto link = connected_link();
  ASSERT_TRUE(link->call({"SCRIPT", "FLUSH"}, 1s));
  Script set_a("return redis.call('SET', KEYS[1], 'script')");
  link->eval(set_a, {"a"}, {});
  link->command({"SET", "a", "command"});
  auto a = link->call({"GET", "a"}, 1s);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->str, "command");
}

TEST_F(RedisLinkTest, EvalFallbackKeepsHandlersInQueueOrder) {
  auto link = connected_link();
  Script script("return 'script'");
  ASSERT_TRUE(link->call_eval(script, {}, {}, 1s));
  ASSERT_TRUE(link->call({"SCRIPT", "FLUSH"}, 1s));
  std::mutex m;
  std::vector<std::string> order;
  auto record = [&](std::string tag) {
    return [&, tag](std::optional<Reply>) {
      std::lock_guard lock(m);
      order.push_back(tag);
    };
  };
  link->eval(script, {}, {}, record("eval"));
  link->command({"PING"}, record("ping"));
  auto last = link->call({"PING"}, 1s);
  ASSERT_TRUE(last);
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(m);
    return order.size() == 2;
  }));
  EXPECT_EQ(order, (std::vector<std::string>{"eval", "ping"}));
}

TEST_F(RedisLinkTest, CallTimesOutWhenRedisDoesNotAnswer) {
  auto link = connected_link();
  auto paused = link->call({"CLIENT", "PAUSE", "600"}, 1s);
  ASSERT_TRUE(paused);
  ASSERT_FALSE(paused->is_error()) << paused->str;
  auto start = std::chrono::steady_clock::now();
  auto r = link->call({"PING"}, 100ms);
  EXPECT_FALSE(r);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
  // The late reply arrives after the caller gave up, and harms nothing.
  auto after = link->call({"PING"}, 2s);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->str, "PONG");
}

TEST_F(RedisLinkTest, SelectsTheDatabaseFromTheAddress) {
  auto addr = address();
  addr.db = 3;
  RedisLink link(addr, "db3", fast_reconnect());
  link.start();
  ASSERT_TRUE(eventually([&] { return link.connected(); }));
  ASSERT_TRUE(link.call({"SET", "where", "three"}, 1s));
  auto plain = connected_link();
  auto in_zero = plain->call({"GET", "where"}, 1s);
  ASSERT_TRUE(in_zero);
  EXPECT_TRUE(in_zero->is_nil());
  auto in_three =
      plain->call({"EVAL", "redis.call('SELECT', 3) return redis.call('GET', 'where')", "0"}, 1s);
  ASSERT_TRUE(in_three);
  EXPECT_EQ(in_three->str, "three");
}

TEST_F(RedisLinkTest, CommandWhileDisconnectedGetsNulloptAtOnce) {
  server_.kill();
  RedisLink link(address(), "down", fast_reconnect());
  link.start();
  bool called = false;
  std::optional<Reply> got = Reply{};
  link.command({"PING"}, [&](std::optional<Reply> r) {
    called = true;
    got = std::move(r);
  });
  EXPECT_TRUE(called);
  EXPECT_FALSE(got);
  EXPECT_FALSE(link.connected());
  auto start = std::chrono::steady_clock::now();
  link.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
}

TEST_F(RedisLinkTest, LinkSurvivesARedisRestart) {
  RedisLink link(address(), "restart", fast_reconnect());
  std::atomic<int> connects{0};
  link.on_connect([&] { connects++; });
  link.start();
  ASSERT_TRUE(eventually([&] { return link.connected(); }));
  EXPECT_EQ(connects.load(), 1);
  ASSERT_TRUE(link.call({"SET", "a", "1"}, 1s));

  server_.kill();
  ASSERT_TRUE(eventually([&] { return !link.connected(); }));
  EXPECT_FALSE(link.call({"GET", "a"}, 1s));

  ASSERT_TRUE(server_.start());
  ASSERT_TRUE(eventually([&] { return link.connected(); }, 3s));
  EXPECT_TRUE(eventually([&] { return connects.load() == 2; }));
  auto r = link.call({"SET", "a", "2"}, 1s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->str, "OK");
}

TEST_F(RedisLinkTest, InFlightHandlersGetNulloptWhenTheConnectionBreaks) {
  auto link = connected_link();
  ASSERT_TRUE(link->call({"CLIENT", "PAUSE", "2000"}, 1s));
  std::atomic<int> failed{0};
  for (int i = 0; i < 5; ++i)
    link->command({"PING"}, [&](std::optional<Reply> r) {
      if (!r) failed++;
    });
  std::this_thread::sleep_for(50ms);
  server_.kill();
  EXPECT_TRUE(eventually([&] { return failed.load() == 5; }));
}

TEST_F(RedisLinkTest, ServerDyingMidWriteFailsTheCommandsAndRaisesNoSigpipe) {
  auto link = connected_link();
  constexpr int kCount = 40;
  std::atomic<int> answered{0};
  std::string big(1 << 20, 'x');
  for (int i = 0; i < kCount; ++i)
    link->command({"SET", "big" + std::to_string(i), big},
                  [&](std::optional<Reply>) { answered++; });
  server_.kill();
  EXPECT_TRUE(eventually([&] { return answered.load() == kCount; }));
  EXPECT_TRUE(eventually([&] { return !link->connected(); }));
}

TEST_F(RedisLinkTest, SubscriberReceivesMessagesUntilUnsubscribed) {
  auto link = connected_link();
  std::mutex m;
  std::vector<std::pair<std::string, std::string>> got;
  RedisSubscriber sub(address(), "sub", [&](std::string_view channel, std::string_view payload) {
    std::lock_guard lock(m);
    got.emplace_back(std::string(channel), std::string(payload));
  });
  sub.start();
  sub.subscribe("news");
  sub.subscribe("news");  // idempotent
  ASSERT_TRUE(eventually([&] { return subscribers_of(*link, "news") == 1; }));
  EXPECT_TRUE(eventually([&] { return sub.connected(); }));

  std::string payload("bin\0ary", 7);
  ASSERT_TRUE(link->call({"PUBLISH", "news", payload}, 1s));
  ASSERT_TRUE(link->call({"PUBLISH", "other", "ignored"}, 1s));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(m);
    return got.size() == 1;
  }));
  {
    std::lock_guard lock(m);
    EXPECT_EQ(got[0].first, "news");
    EXPECT_EQ(got[0].second, payload);
  }
  EXPECT_EQ(sub.messages_received(), 1u);
  EXPECT_EQ(sub.bytes_received(), payload.size());

  sub.unsubscribe("news");
  ASSERT_TRUE(eventually([&] { return subscribers_of(*link, "news") == 0; }));
  ASSERT_TRUE(link->call({"PUBLISH", "news", "late"}, 1s));
  ASSERT_TRUE(link->call({"PING"}, 1s));
  std::this_thread::sleep_for(50ms);
  std::lock_guard lock(m);
  EXPECT_EQ(got.size(), 1u);
}

TEST_F(RedisLinkTest, SubscriberResubscribesAfterARedisRestart) {
  std::atomic<int> messages{0};
  RedisSubscriber sub(address(), "sub", [&](std::string_view, std::string_view) { messages++; });
  std::atomic<int> connects{0};
  sub.on_connect([&] { connects++; });
  sub.subscribe("events");
  sub.start();
  ASSERT_TRUE(eventually([&] { return connects.load() == 1; }));
  {
    auto link = connected_link();
    EXPECT_EQ(subscribers_of(*link, "events"), 1);
  }

  server_.kill();
  ASSERT_TRUE(eventually([&] { return !sub.connected(); }));
  ASSERT_TRUE(server_.start());
  // on_connect runs once the channel is subscribed again, so a publish right after it lands.
  ASSERT_TRUE(eventually([&] { return connects.load() == 2; }, 3s));
  EXPECT_TRUE(sub.connected());
  auto link = connected_link();
  auto r = link->call({"PUBLISH", "events", "again"}, 1s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->integer, 1);
  EXPECT_TRUE(eventually([&] { return messages.load() == 1; }));

  auto start = std::chrono::steady_clock::now();
  sub.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
}

TEST(RedisUrl, ParsesHostPortAndDatabase) {
  auto a = parse_redis_url("redis://cache.internal:6380/2");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "cache.internal");
  EXPECT_EQ(a->port, 6380);
  EXPECT_EQ(a->db, 2);

  auto b = parse_redis_url("redis://localhost");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "localhost");
  EXPECT_EQ(b->port, 6379);
  EXPECT_EQ(b->db, 0);

  auto c = parse_redis_url("redis://[::1]:7000");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->port, 7000);

  auto d = parse_redis_url("redis://10.0.0.5/15");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->host, "10.0.0.5");
  EXPECT_EQ(d->port, 6379);
  EXPECT_EQ(d->db, 15);

  auto e = parse_redis_url("redis://[fe80::1]/1");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "fe80::1");
  EXPECT_EQ(e->db, 1);
}

TEST(RedisUrl, RejectsOtherSchemesAndBadParts) {
  for (const char* bad :
       {"", "redis://", "rediss://host", "http://host:6379", "host:6379", "redis://:6379",
        "redis://host:", "redis://host:0", "redis://host:65536", "redis://host:-1",
        "redis://host:63a9", "redis://host:6379/x", "redis://host/-1", "redis://host/1/2",
        "redis://[::1", "redis://[::1]x", "redis://user@host", "redis://[]:6379"})
    EXPECT_FALSE(parse_redis_url(bad)) << bad;
}

TEST(RedisUrl, ParsesUserAndPercentEncodedPassword) {
  auto a = parse_redis_url("redis://:s3cret@cache:6380/2");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->user, "");
  EXPECT_EQ(a->password, "s3cret");
  EXPECT_EQ(a->host, "cache");
  EXPECT_EQ(a->port, 6380);
  EXPECT_EQ(a->db, 2);

  auto b = parse_redis_url("redis://app:p%40ss%3Aw%25rd@10.0.0.5");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->user, "app");
  EXPECT_EQ(b->password, "p@ss:w%rd");
  EXPECT_EQ(b->host, "10.0.0.5");

  // An '@' left unescaped in the password: the last one ends the credentials.
  auto c = parse_redis_url("redis://app:a@b/c@[::1]:7000/3");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->password, "a@b/c");
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->db, 3);

  for (const char* bad : {"redis://user@host", "redis://:@host", "redis://:%zz@host",
                          "redis://:pw%4@host", "redis://:pw@", "redis://:pw@:6379"})
    EXPECT_FALSE(parse_redis_url(bad)) << bad;
}

TEST(RedisUrl, AddressTextNeverHoldsThePassword) {
  auto a = parse_redis_url("redis://app:hunter2-secret@cache:6380/2");
  ASSERT_TRUE(a);
  auto text = ds::cluster::address_text(*a);
  EXPECT_EQ(text, "app@cache:6380/2");
  EXPECT_EQ(text.find("hunter2"), std::string::npos);
  EXPECT_EQ(ds::cluster::address_text(*parse_redis_url("redis://[::1]")), "[::1]:6379/0");
}

namespace {

// A redis-server that wants a password for the default user and knows an ACL user "app".
class RedisAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.start(
        {"--requirepass", "default-pw", "--user", "app", "on", ">app-pw", "~*", "&*", "+@all"}));
  }
  RedisAddress address(std::string user, std::string password) const {
    RedisAddress a{"127.0.0.1", server_.port(), 0};
    a.user = std::move(user);
    a.password = std::move(password);
    return a;
  }
  ds::test::RedisServer server_;
};

}  // namespace

TEST_F(RedisAuthTest, LinkAndSubscriberAuthenticateWithPasswordOrAclUser) {
  for (auto [user, password] : {std::pair{"", "default-pw"}, std::pair{"app", "app-pw"}}) {
    RedisLink link(address(user, password), "auth");
    link.start();
    ASSERT_TRUE(eventually([&] { return link.connected(); })) << user;
    auto set = link.call({"SET", "k", "v"}, 1s);
    ASSERT_TRUE(set);
    EXPECT_EQ(set->str, "OK") << user;

    std::atomic<int> got{0};
    RedisSubscriber sub(address(user, password), "auth-sub",
                        [&](std::string_view, std::string_view p) {
                          if (p == "hello") got++;
                        });
    sub.subscribe("news");
    sub.start();
    ASSERT_TRUE(eventually([&] { return sub.connected(); })) << user;
    ASSERT_TRUE(link.call({"PUBLISH", "news", "hello"}, 1s));
    EXPECT_TRUE(eventually([&] { return got.load() == 1; })) << user;
  }
}

TEST_F(RedisAuthTest, AWrongPasswordNeverCountsAsConnected) {
  RedisLink link(address("", "wrong"), "auth");
  RedisSubscriber sub(address("app", "wrong"), "auth-sub", [](auto, auto) {});
  RedisLink nopw(address("", ""), "auth");
  link.start();
  sub.start();
  nopw.start();
  // Nothing to wait for when nothing happens: a few reconnect rounds (first backoff 50 ms).
  std::this_thread::sleep_for(400ms);
  EXPECT_FALSE(link.connected());
  EXPECT_FALSE(sub.connected());
  EXPECT_FALSE(nopw.connected());  // Redis answered its PING with NOAUTH
  EXPECT_FALSE(link.call({"GET", "k"}, 100ms));
  // Refused connections back off like unreachable ones (50, 100, 200 ms ...), not a tight loop.
  RedisLink admin(address("", "default-pw"), "admin");
  admin.start();
  ASSERT_TRUE(eventually([&] { return admin.connected(); }));
  auto info = admin.call({"INFO", "stats"}, 1s);
  ASSERT_TRUE(info);
  auto at = info->str.find("total_connections_received:");
  ASSERT_NE(at, std::string::npos);
  EXPECT_LT(std::stoi(info->str.substr(at + 27)), 30) << "three refused links reconnecting";
}
