#include "cluster/redis_link.hpp"

#include <hiredis/hiredis.h>
#include <openssl/sha.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <deque>
#include <future>
#include <iterator>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>

#include "util/event_loop.hpp"
#include "util/percent.hpp"

namespace ds::cluster {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kFirstBackoff{50};

bool parse_int(std::string_view s, int& out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Reply copy_reply(const redisReply& r) {
  Reply out;
  switch (r.type) {
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::kInteger;
      out.integer = r.integer;
      break;
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::kString;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::kStatus;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::kError;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::kArray;
      out.elements.reserve(r.elements);
      for (std::size_t i = 0; i < r.elements; ++i)
        out.elements.push_back(copy_reply(*r.element[i]));
      break;
    default:
      out.type = Reply::Type::kNil;
      break;
  }
  return out;
}

// The size of a command's RESP encoding: *N\r\n then $len\r\n arg\r\n per argument.
std::size_t resp_size(const std::vector<std::string>& args) {
  std::size_t n = 1 + std::to_string(args.size()).size() + 2;
  for (const auto& a : args) n += 1 + std::to_string(a.size()).size() + 2 + a.size() + 2;
  return n;
}

// The thread, wake-up fd, connection and reconnect backoff shared by RedisLink and
// RedisSubscriber. Only the loop thread touches ctx_.
class Connection {
 public:
  Connection(RedisAddress address, std::string name, std::chrono::milliseconds connect_timeout,
             std::chrono::milliseconds max_backoff)
      : address_(std::move(address)),
        name_(std::move(name)),
        connect_timeout_(connect_timeout),
        max_backoff_(std::max(max_backoff, kFirstBackoff)) {
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) throw std::runtime_error("redis: eventfd failed");
  }
  virtual ~Connection() {
    if (wake_fd_ >= 0) ::close(wake_fd_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start() {
    std::lock_guard lock(thread_mutex_);
    if (thread_.joinable()) return;
    stopping_ = false;
    thread_ = std::thread([this] {
      // hiredis writes with write(2): a peer gone mid-write must be EPIPE, not a dead process.
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
      run();
    });
  }

  // Every subclass calls this from its destructor, before its own members go.
  void stop() {
    std::lock_guard lock(thread_mutex_);
    if (!thread_.joinable()) return;
    stopping_ = true;
    wake();
    thread_.join();
  }

  void wake() {
    std::uint64_t one = 1;
    // A full counter already means "wake up"; nothing to do on failure.
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  }

  bool connected() const { return connected_.load(); }

  void add_on_connect(std::function<void()> fn) {
    std::lock_guard lock(callbacks_mutex_);
    on_connect_.push_back(std::move(fn));
  }

 protected:
  // Called on the loop thread with ctx_ freshly connected; sends what a new connection needs.
  virtual void connection_opened() = 0;
  // Called on the loop thread each time around: move queued work onto ctx_.
  virtual void take_work() = 0;
  virtual void handle_reply(redisReply& reply) = 0;
  // Called on the loop thread once the connection is gone (ctx_ is still valid but dead).
  virtual void connection_lost() = 0;

  void run_on_connect() {
    std::vector<std::function<void()>> fns;
    {
      std::lock_guard lock(callbacks_mutex_);
      fns = on_connect_;
    }
    for (auto& fn : fns) fn();
  }

  // Appends one command to ctx_ (binary safe); false if hiredis refused it.
  bool append(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> argvlen;
    argv.reserve(args.size());
    argvlen.reserve(args.size());
    for (const auto& a : args) {
      argv.push_back(a.data());
      argvlen.push_back(a.size());
    }
    if (redisAppendCommandArgv(ctx_, static_cast<int>(args.size()), argv.data(), argvlen.data()) !=
        REDIS_OK)
      return false;
    want_write_ = true;
    return true;
  }

  bool stopping() const { return stopping_.load(); }

  // The AUTH command a new connection starts with; empty without a password.
  std::vector<std::string> auth_command() const {
    if (address_.password.empty()) return {};
    if (address_.user.empty()) return {"AUTH", address_.password};
    return {"AUTH", address_.user, address_.password};
  }

  // Redis refused the credentials: this connection goes and is tried again after the backoff.
  // Logged once per streak, with Redis's error code only (never the password).
  void auth_refused(std::string_view error) {
    if (!auth_refused_logged_) {
      auto code = error.substr(0, error.find(' '));
      spdlog::error("event=redis_auth_failed link={} user={} error={}", name_,
                    address_.user.empty() ? "default" : address_.user, code);
    }
    auth_refused_logged_ = true;
    drop_ = true;
  }
  void auth_accepted() { auth_refused_logged_ = false; }

  redisContext* ctx_ = nullptr;
  std::atomic<bool> connected_{false};
  const RedisAddress address_;
  const std::string name_;

 private:
  void run() {
    auto backoff = kFirstBackoff;
    // Grows while Redis keeps refusing the credentials: the TCP connect works every time, so
    // without it a wrong password would reconnect in a tight loop.
    auto refused_backoff = kFirstBackoff;
    bool was_up = true;  // logs the first failure
    while (!stopping_) {
      ctx_ = open();
      if (!ctx_) {
        if (was_up) spdlog::warn("event=redis_unreachable link={}", name_);
        was_up = false;
        wait_for_wake(backoff);
        backoff = std::min(backoff * 2, max_backoff_);
        continue;
      }
      backoff = kFirstBackoff;
      was_up = true;
      // Quiet while a refusal streak goes on (auth_refused logged it once).
      if (!auth_refused_logged_)
        spdlog::info("event=redis_connected link={} address={}", name_, address_text(address_));
      want_write_ = false;
      drop_ = false;
      connection_opened();
      serve();
      connected_ = false;
      connection_lost();
      redisFree(ctx_);
      ctx_ = nullptr;
      if (!stopping_ && !auth_refused_logged_)
        spdlog::warn("event=redis_disconnected link={}", name_);
      if (drop_) {
        wait_for_wake(refused_backoff);
        refused_backoff = std::min(refused_backoff * 2, max_backoff_);
      } else {
        refused_backoff = kFirstBackoff;
      }
    }
  }

  // A non-blocking connect, waited for with poll so that stop() interrupts it.
  redisContext* open() {
    redisContext* c = redisConnectNonBlock(address_.host.c_str(), address_.port);
    if (!c) return nullptr;
    if (c->err) {
      redisFree(c);
      return nullptr;
    }
    auto deadline = Clock::now() + connect_timeout_;
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0 || stopping_) break;
      pollfd fds[2] = {{c->fd, POLLOUT, 0}, {wake_fd_, POLLIN, 0}};
      int n = ::poll(fds, 2, static_cast<int>(left.count()) + 1);
      if (n < 0 && errno != EINTR) break;
      if (n <= 0) continue;
      if (fds[1].revents) drain_wake();
      if (fds[0].revents) {
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
          // A peer that vanishes without a FIN is noticed, if late, rather than never.
          redisEnableKeepAlive(c);
          return c;
        }
        break;
      }
    }
    redisFree(c);
    return nullptr;
  }

  void serve() {
    while (!stopping_) {
      take_work();
      if (ctx_->err) return;
      if (want_write_) {
        int done = 0;
        if (redisBufferWrite(ctx_, &done) != REDIS_OK) return;
        want_write_ = !done;
      }
      short events = POLLIN;
      if (want_write_) events |= POLLOUT;
      pollfd fds[2] = {{ctx_->fd, events, 0}, {wake_fd_, POLLIN, 0}};
      int n = ::poll(fds, 2, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[1].revents) drain_wake();
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        if (redisBufferRead(ctx_) != REDIS_OK) return;
        while (true) {
          void* raw = nullptr;
          if (redisGetReplyFromReader(ctx_, &raw) != REDIS_OK) return;
          if (!raw) break;
          auto* reply = static_cast<redisReply*>(raw);
          handle_reply(*reply);
          freeReplyObject(reply);
          if (ctx_->err || drop_) return;
        }
      }
    }
  }

  void drain_wake() {
    std::uint64_t count;
    [[maybe_unused]] auto n = ::read(wake_fd_, &count, sizeof count);
  }

  void wait_for_wake(std::chrono::milliseconds timeout) {
    if (stopping_) return;
    pollfd fd{wake_fd_, POLLIN, 0};
    if (::poll(&fd, 1, static_cast<int>(timeout.count())) > 0) drain_wake();
  }

  const std::chrono::milliseconds connect_timeout_;
  const std::chrono::milliseconds max_backoff_;
  int wake_fd_ = -1;
  bool want_write_ = false;
  bool drop_ = false;  // loop thread only: close the connection now
  bool auth_refused_logged_ = false;
  std::atomic<bool> stopping_{false};
  std::mutex thread_mutex_;
  std::thread thread_;
  std::mutex callbacks_mutex_;
  std::vector<std::function<void()>> on_connect_;
};

void run_handler(const ReplyHandler& handler, std::optional<Reply> reply) {
  if (handler) handler(std::move(reply));
}

}  // namespace

std::string address_text(const RedisAddress& a) {
  bool v6 = a.host.find(':') != std::string::npos;
  std::string out = a.user.empty() ? "" : a.user + "@";
  out += v6 ? "[" + a.host + "]" : a.host;
  out += ":" + std::to_string(a.port) + "/" + std::to_string(a.db);
  return out;
}

std::optional<RedisAddress> parse_redis_url(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, kScheme.size()) != kScheme) return std::nullopt;
  std::string_view rest = url.substr(kScheme.size());
  RedisAddress out;
  // USER:PASSWORD@ (the last '@': an unescaped one may end up in a password).
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    auto userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) return std::nullopt;  // a user without a password
    auto user = util::percent_decode(userinfo.substr(0, colon));
    auto password = util::percent_decode(userinfo.substr(colon + 1));
    if (!user || !password || password->empty()) return std::nullopt;
    out.user = std::move(*user);
    out.password = std::move(*password);
  }
  std::string_view host;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (!rest.empty() && rest.front() != ':' && rest.front() != '/') return std::nullopt;
  } else {
    auto end = rest.find_first_of(":/");
    host = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  }
  if (host.empty() || host.find_first_of("@?#[] \t\r\n") != std::string_view::npos)
    return std::nullopt;
  out.host = std::string(host);
  if (!rest.empty() && rest.front() == ':') {
    auto slash = rest.find('/');
    auto port = rest.substr(1, slash == std::string_view::npos ? slash : slash - 1);
    if (!all_digits(port) || !parse_int(port, out.port) || out.port < 1 || out.port > 65535)
      return std::nullopt;
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  }
  if (!rest.empty()) {
    auto db = rest.substr(1);  // rest starts with '/'
    if (!db.empty() && (!all_digits(db) || !parse_int(db, out.db))) return std::nullopt;
  }
  return out;
}

Script::Script(std::string source_text) : source(std::move(source_text)) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(source.data()), source.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  sha1.reserve(2 * SHA_DIGEST_LENGTH);
  for (unsigned char b : digest) {
    sha1.push_back(kHex[b >> 4]);
    sha1.push_back(kHex[b & 0xf]);
  }
}

// ---------------------------------------------------------------------------------------------
// RedisLink

struct RedisLink::Impl final : Connection {
  // One command on its way: queued, then on the wire, then answered. Handlers run in the order
  // the commands were queued, even when an EVALSHA had to be sent again as EVAL.
  struct Entry {
    std::vector<std::string> args;
    ReplyHandler handler;
    std::shared_ptr<const Script> script;  // set for EVALSHA: resent as EVAL on NOSCRIPT
    std::optional<Reply> reply;
    bool answered = false;  // reply is final (nullopt if it could not be sent)
  };
  using EntryPtr = std::shared_ptr<Entry>;

  Impl(RedisAddress address, std::string name, Options opts)
      : Connection(std::move(address), std::move(name), opts.connect_timeout, opts.max_backoff),
        options(opts) {}
  ~Impl() override { stop(); }

  void enqueue(EntryPtr entry) {
    bool was_empty = false;
    {
      std::lock_guard lock(mutex);
      if (connected_ && queue.size() < options.max_queued) {
        was_empty = queue.empty();
        queue.push_back(std::move(entry));
        entry = nullptr;
      }
    }
    if (entry) {
      run_handler(entry->handler, std::nullopt);
      return;
    }
    if (was_empty) wake();
  }

  // The link counts as connected once Redis has answered on the new connection (SELECT, or
  // PING): a server that is going away can still complete a TCP handshake from its backlog.
  void connection_opened() override {
    loaded_scripts.clear();
    if (auto auth = auth_command(); !auth.empty()) {
      auto login = std::make_shared<Entry>();
      login->args = std::move(auth);
      login->handler = [this](std::optional<Reply> r) {
        if (!r) return;
        if (r->is_error()) return auth_refused(r->str);
        auth_accepted();
      };
      send(std::move(login));
    }
    auto hello = std::make_shared<Entry>();
    if (address_.db != 0)
      hello->args = {"SELECT", std::to_string(address_.db)};
    else
      hello->args = {"PING"};
    hello->handler = [this](std::optional<Reply> r) {
      if (!r) return;
      // Redis wants a password and --redis gave none.
      if (r->is_error() && r->str.starts_with("NOAUTH")) return auth_refused(r->str);
      if (r->is_error())
        spdlog::error("event=redis_select_failed link={} db={}", name_, address_.db);
      {
        std::lock_guard lock(mutex);
        connected_ = true;
      }
      run_on_connect();
    };
    send(std::move(hello));
  }

  void take_work() override {
    std::deque<EntryPtr> work;
    {
      std::lock_guard lock(mutex);
      work.swap(queue);
    }
    for (auto& e : work) send(std::move(e));
  }

  void send(EntryPtr e) {
    if (e->script && loaded_scripts.insert(e->script->sha1).second) {
      // Loaded ahead of its first EVALSHA on this connection: a NOSCRIPT answer is sent again
      // as EVAL behind everything pipelined meanwhile, so it would run after commands queued
      // after it. Now that only happens when someone flushes the scripts mid-connection.
      auto load = std::make_shared<Entry>();
      load->args = {"SCRIPT", "LOAD", e->script->source};
      send(std::move(load));
    }
    if (!append(e->args)) {
      // Only an allocation failure gets here; the command cannot go out.
      e->answered = true;
      order.push_back(std::move(e));
      run_ready();
      return;
    }
    commands_sent_++;
    bytes_sent_ += resp_size(e->args);
    wire.push_back(e);
    order.push_back(std::move(e));
  }

  void handle_reply(redisReply& raw) override {
    if (wire.empty()) return;  // nothing asked for it
    auto e = std::move(wire.front());
    wire.pop_front();
    Reply reply = copy_reply(raw);
    if (e->script && reply.is_error() && reply.str.rfind("NOSCRIPT", 0) == 0) {
      e->args[0] = "EVAL";
      e->args[1] = e->script->source;
      e->script = nullptr;
      send_again(std::move(e));
      return;
    }
    e->reply = std::move(reply);
    e->answered = true;
    run_ready();
  }

  void send_again(EntryPtr e) {
    if (!append(e->args)) {
      e->answered = true;
      run_ready();
      return;
    }
    commands_sent_++;
    bytes_sent_ += resp_size(e->args);
    wire.push_back(std::move(e));
  }

  // Runs the handlers at the front of the order whose replies are in.
  void run_ready() {
    while (!order.empty()) {
      if (!order.front()->answered) return;
      auto e = std::move(order.front());
      order.pop_front();
      run_handler(e->handler, std::move(e->reply));
    }
  }

  void connection_lost() override {
    std::deque<EntryPtr> queued;
    {
      std::lock_guard lock(mutex);
      connected_ = false;
      queued.swap(queue);
    }
    wire.clear();
    auto in_flight = std::move(order);
    order.clear();
    // Answered ones keep their reply; the rest get nullopt, all in order.
    for (auto& e : in_flight) run_handler(e->handler, std::move(e->reply));
    for (auto& e : queued) run_handler(e->handler, std::nullopt);
  }

  const Options options;
  std::mutex mutex;
  std::deque<EntryPtr> queue;  // guarded by mutex
  // Loop thread only: every command sent and not yet handed over, in queue order, and those of
  // them still waiting for a reply, in wire order.
  std::deque<EntryPtr> order;
  std::deque<EntryPtr> wire;
  std::set<std::string> loaded_scripts;  // sha1s loaded on this connection
  std::atomic<std::uint64_t> commands_sent_{0};
  std::atomic<std::uint64_t> bytes_sent_{0};
};

RedisLink::RedisLink(RedisAddress address, std::string name)
    : RedisLink(std::move(address), std::move(name), Options{}) {}

RedisLink::RedisLink(RedisAddress address, std::string name, Options options)
    : impl_(std::make_unique<Impl>(std::move(address), std::move(name), options)) {}

RedisLink::~RedisLink() { stop(); }

void RedisLink::start() { impl_->start(); }

void RedisLink::stop() {
  impl_->stop();
  // Commands queued after the loop's last look (or before it ever ran) still get their answer.
  std::deque<Impl::EntryPtr> queued;
  {
    std::lock_guard lock(impl_->mutex);
    queued.swap(impl_->queue);
  }
  for (auto& e : queued) run_handler(e->handler, std::nullopt);
}

void RedisLink::command(std::vector<std::string> args, ReplyHandler handler) {
  auto e = std::make_shared<Impl::Entry>();
  e->args = std::move(args);
  e->handler = std::move(handler);
  impl_->enqueue(std::move(e));
}

void RedisLink::eval(const Script& script, std::vector<std::string> keys,
                     std::vector<std::string> args, ReplyHandler handler) {
  auto e = std::make_shared<Impl::Entry>();
  e->args.reserve(3 + keys.size() + args.size());
  e->args.push_back("EVALSHA");
  e->args.push_back(script.sha1);
  e->args.push_back(std::to_string(keys.size()));
  for (auto& k : keys) e->args.push_back(std::move(k));
  for (auto& a : args) e->args.push_back(std::move(a));
  e->script = std::make_shared<const Script>(script);
  e->handler = std::move(handler);
  impl_->enqueue(std::move(e));
}

namespace {
// The promise lives in the handler, so a reply arriving after the caller gave up is harmless.
template <typename Send>
std::optional<Reply> wait_for_reply(Send send, std::chrono::milliseconds timeout) {
  event_loop::note_wait("redis");
  auto promise = std::make_shared<std::promise<std::optional<Reply>>>();
  auto future = promise->get_future();
  send([promise](std::optional<Reply> r) { promise->set_value(std::move(r)); });
  if (future.wait_for(timeout) != std::future_status::ready) return std::nullopt;
  return future.get();
}
}  // namespace

std::optional<Reply> RedisLink::call(std::vector<std::string> args,
                                     std::chrono::milliseconds timeout) {
  return wait_for_reply([&](ReplyHandler h) { command(std::move(args), std::move(h)); }, timeout);
}

std::optional<Reply> RedisLink::call_eval(const Script& script, std::vector<std::string> keys,
                                          std::vector<std::string> args,
                                          std::chrono::milliseconds timeout) {
  return wait_for_reply(
      [&](ReplyHandler h) { eval(script, std::move(keys), std::move(args), std::move(h)); },
      timeout);
}

bool RedisLink::connected() const { return impl_->connected(); }
void RedisLink::on_connect(std::function<void()> fn) { impl_->add_on_connect(std::move(fn)); }
std::uint64_t RedisLink::commands_sent() const { return impl_->commands_sent_.load(); }
std::uint64_t RedisLink::bytes_sent() const { return impl_->bytes_sent_.load(); }

// ---------------------------------------------------------------------------------------------
// RedisSubscriber

struct RedisSubscriber::Impl final : Connection {
  Impl(RedisAddress address, std::string name, MessageHandler h)
      : Connection(std::move(address), std::move(name), RedisLink::Options{}.connect_timeout,
                   RedisLink::Options{}.max_backoff),
        handler(std::move(h)) {}
  ~Impl() override { stop(); }

  void connection_opened() override {
    subscribed.clear();
    std::set<std::string> want;
    {
      std::lock_guard lock(mutex);
      want = desired;
    }
    // on_connect runs once Redis has confirmed every channel (or answered a PING when there
    // are none), so nothing published after it runs can be missed.
    awaiting_confirmations = want.size();
    if (auto auth = auth_command(); !auth.empty()) {
      awaiting_auth = true;
      append(auth);
    }
    if (!want.empty()) {
      std::vector<std::string> args{"SUBSCRIBE"};
      args.insert(args.end(), want.begin(), want.end());
      append(args);
      subscribed = std::move(want);
    } else {
      awaiting_pong = true;
      append({"PING"});
    }
  }

  void announce() {
    connected_ = true;
    run_on_connect();
  }

  void take_work() override {
    std::set<std::string> want;
    {
      std::lock_guard lock(mutex);
      want = desired;
    }
    std::vector<std::string> add{"SUBSCRIBE"};
    std::vector<std::string> remove{"UNSUBSCRIBE"};
    std::set_difference(want.begin(), want.end(), subscribed.begin(), subscribed.end(),
                        std::back_inserter(add));
    std::set_difference(subscribed.begin(), subscribed.end(), want.begin(), want.end(),
                        std::back_inserter(remove));
    if (add.size() > 1) append(add);
    if (remove.size() > 1) append(remove);
    subscribed = std::move(want);
  }

  void handle_reply(redisReply& r) override {
    if (awaiting_auth) {
      awaiting_auth = false;
      if (r.type == REDIS_REPLY_ERROR) return auth_refused(std::string_view(r.str, r.len));
      auth_accepted();
      return;
    }
    if (awaiting_pong && (r.type == REDIS_REPLY_STATUS || r.type == REDIS_REPLY_ARRAY)) {
      // "PONG" outside pub/sub mode, ["pong", ""] once a channel was subscribed meanwhile.
      awaiting_pong = false;
      announce();
      if (r.type == REDIS_REPLY_STATUS) return;
    }
    if (r.type != REDIS_REPLY_ARRAY || r.elements < 3) return;
    auto* kind = r.element[0];
    if (kind->type != REDIS_REPLY_STRING) return;
    std::string_view k(kind->str, kind->len);
    if (k == "message") {
      auto* ch = r.element[1];
      auto* payload = r.element[2];
      if (ch->type != REDIS_REPLY_STRING || payload->type != REDIS_REPLY_STRING) return;
      messages_received_++;
      bytes_received_ += payload->len;
      if (handler)
        handler(std::string_view(ch->str, ch->len), std::string_view(payload->str, payload->len));
    } else if (k == "subscribe" && awaiting_confirmations > 0) {
      if (--awaiting_confirmations == 0) announce();
    }
  }

  void connection_lost() override {
    subscribed.clear();
    awaiting_confirmations = 0;
    awaiting_pong = false;
    awaiting_auth = false;
  }

  const MessageHandler handler;
  std::mutex mutex;
  std::set<std::string> desired;  // guarded by mutex
  // Loop thread only.
  std::set<std::string> subscribed;
  std::size_t awaiting_confirmations = 0;
  bool awaiting_pong = false;
  bool awaiting_auth = false;
  std::atomic<std::uint64_t> messages_received_{0};
  std::atomic<std::uint64_t> bytes_received_{0};
};

RedisSubscriber::RedisSubscriber(RedisAddress address, std::string name, MessageHandler handler)
    : impl_(std::make_unique<Impl>(std::move(address), std::move(name), std::move(handler))) {}

RedisSubscriber::~RedisSubscriber() { stop(); }

void RedisSubscriber::start() { impl_->start(); }
void RedisSubscriber::stop() { impl_->stop(); }

void RedisSubscriber::subscribe(const std::string& channel) {
  {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->desired.insert(channel).second) return;
  }
  impl_->wake();
}

void RedisSubscriber::unsubscribe(const std::string& channel) {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->desired.erase(channel) == 0) return;
  }
  impl_->wake();
}

bool RedisSubscriber::connected() const { return impl_->connected(); }
void RedisSubscriber::on_connect(std::function<void()> fn) { impl_->add_on_connect(std::move(fn)); }
std::uint64_t RedisSubscriber::messages_received() const {
  return impl_->messages_received_.load();
}
std::uint64_t RedisSubscriber::bytes_received() const { return impl_->bytes_received_.load(); }

}  // namespace ds::cluster
