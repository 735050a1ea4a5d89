// Connections to Redis, each with its own thread: RedisLink sends commands pipelined in order
// and hands each reply to a callback; RedisSubscriber holds a pub/sub connection. Both
// reconnect by themselves (with backoff) and never block their callers on the network.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ds::cluster {

struct RedisAddress {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  // With a password each connection starts with AUTH (an ACL user when user is set too).
  // Never logged: print address_text() instead.
  std::string user;
  std::string password;
};
// redis://[[USER]:PASSWORD@]HOST[:PORT][/DB], USER and PASSWORD percent-encoded where needed;
// nullopt for anything else.
std::optional<RedisAddress> parse_redis_url(std::string_view url);
// "HOST:PORT/DB", with "USER@" in front when there is a user: what a log line may say.
std::string address_text(const RedisAddress& address);

// A reply copied out of hiredis.
struct Reply {
  enum class Type { kNil, kInteger, kString, kStatus, kArray, kError };
  Type type = Type::kNil;
  long long integer = 0;
  std::string str;  // kString, kStatus, kError
  std::vector<Reply> elements;

  bool is_error() const { return type == Type::kError; }
  bool is_nil() const { return type == Type::kNil; }
};

// nullopt: no reply will come (Redis is away, the connection broke with the command in
// flight, or the link's queue is full).
using ReplyHandler = std::function<void(std::optional<Reply>)>;

// A Lua script run by EVALSHA, loaded again (EVAL) when Redis answers NOSCRIPT.
struct Script {
  explicit Script(std::string source);
  std::string source;
  std::string sha1;  // hex
};

class RedisLink {
 public:
  struct Options {
    std::chrono::milliseconds connect_timeout{500};
    std::chrono::milliseconds max_backoff{1000};
    std::size_t max_queued = 100'000;  // commands waiting to be sent; beyond: refused
  };
  RedisLink(RedisAddress address, std::string name);
  RedisLink(RedisAddress address, std::string name, Options options);
  ~RedisLink();  // stop()
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  void start();
  void stop();  // joins the thread; pending handlers get nullopt

  // Queued and sent in order (pipelined); handler (may be empty) runs on the link's thread,
  // in the order the commands were queued. Never blocks. While the link is down the handler
  // gets nullopt at once.
  void command(std::vector<std::string> args, ReplyHandler handler = {});
  void eval(const Script& script, std::vector<std::string> keys, std::vector<std::string> args,
            ReplyHandler handler = {});
  // Waits up to timeout for the reply; never call from the link's own thread.
  std::optional<Reply> call(std::vector<std::string> args, std::chrono::milliseconds timeout);
  std::optional<Reply> call_eval(const Script& script, std::vector<std::string> keys,
                                 std::vector<std::string> args, std::chrono::milliseconds timeout);

  bool connected() const;
  // Runs on the link's thread after each successful (re)connect.
  void on_connect(std::function<void()> fn);
  // Counters since start (for /metrics and the Redis-cost benchmark).
  std::uint64_t commands_sent() const;
  std::uint64_t bytes_sent() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class RedisSubscriber {
 public:
  // channel, payload; runs on the subscriber's thread.
  using MessageHandler = std::function<void(std::string_view channel, std::string_view payload)>;
  RedisSubscriber(RedisAddress address, std::string name, MessageHandler handler);
  ~RedisSubscriber();
  RedisSubscriber(const RedisSubscriber&) = delete;
  RedisSubscriber& operator=(const RedisSubscriber&) = delete;

  void start();
  void stop();
  // Idempotent; remembered and subscribed again after a reconnect. Never blocks.
  void subscribe(const std::string& channel);
  void unsubscribe(const std::string& channel);
  bool connected() const;
  // Runs on the subscriber's thread after each (re)connect, once its channels are subscribed
  // again: messages published while it was away are lost, so callers resynchronise here.
  void on_connect(std::function<void()> fn);
  std::uint64_t messages_received() const;
  std::uint64_t bytes_received() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ds::cluster
