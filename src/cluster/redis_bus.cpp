#include "cluster/redis_bus.hpp"

#include <spdlog/spdlog.h>

#include <charconv>

#include "util/event_loop.hpp"

namespace ds::cluster {

namespace {

using live::Bytes;
using live::make_bytes;
using nlohmann::json;

using namespace wire;
constexpr std::int64_t kLookupTimeoutMs = 250;

std::string str(std::string_view v) { return std::string(v); }

// Redis's own clock, so nodes on other hosts agree on who has waited longest.
constexpr const char* kNowLua =
    "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + "
    "math.floor(tonumber(t[2]) / 1000) ";

// KEYS: frame key, ready set, held key. ARGV: payload, session id, ttl ms. A replaced frame
// keeps its stream's place in line; a stream joining the line wakes idle workers everywhere.
// It joins strictly behind every stream already waiting (microseconds, and never level with
// the last one: a tie would go by session id, so a stream could get a second turn while
// another waits). Returns {joined, the node whose worker had a job of it marked waiting, or
// ''}: the mark is taken, and that node is told to supersede the job (SupersedeMessage).
const Script kOffer(
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3]) "
    "local held = redis.call('GETDEL', KEYS[3]) or '' "
    "if redis.call('ZSCORE', KEYS[2], ARGV[2]) then return {0, held} end "
    "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000000 + tonumber(t[2]) "
    "local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES') "
    "if last[2] and tonumber(last[2]) >= now then now = tonumber(last[2]) + 1 end "
    "redis.call('ZADD', KEYS[2], now, ARGV[2]) "
    "redis.call('PUBLISH', '" +
    str(kReadyChannel) + "', '') return {1, held}");
// KEYS: ready set. The longest-waiting stream's frame, taken (a stream whose frame expired
// or was withdrawn is skipped).
const Script kClaim(
    "for i = 1, 32 do "
    "  local m = redis.call('ZPOPMIN', KEYS[1]) "
    "  if #m == 0 then return false end "
    "  local f = redis.call('GETDEL', '" +
    str(kFramePrefix) +
    "' .. m[1]) "
    "  if f then return f end "
    "end "
    "return false");
// KEYS: ready set. ARGV: max, first session ('' none), node ('' none), mark ttl ms. The frame
// of the first stream if it waits in the line, then those of the longest-waiting streams, up
// to max, taken. With a node, each stream taken is marked held by it (its job will wait at
// that node's worker) until the stream's next offer or the ttl.
const Script kClaimBatch(
    "local out = {} local n = tonumber(ARGV[1]) "
    "local function take(s) "
    "  local f = redis.call('GETDEL', '" +
    str(kFramePrefix) +
    "' .. s) "
    "  if not f then return end "
    "  out[#out + 1] = f "
    "  if ARGV[3] ~= '' then "
    "    redis.call('SET', '" +
    str(kHeldPrefix) +
    "' .. s, ARGV[3], 'PX', ARGV[4]) end "
    "end "
    "if ARGV[2] ~= '' and redis.call('ZREM', KEYS[1], ARGV[2]) == 1 then take(ARGV[2]) end "
    "for i = 1, n + 32 do "
    "  if #out >= n then break end "
    "  local m = redis.call('ZPOPMIN', KEYS[1]) "
    "  if #m == 0 then break end "
    "  take(m[1]) "
    "end "
    "return out");
// KEYS: streams hash. ARGV: username, session id. Only the session's own entry goes.
const Script kForget(
    "local v = redis.call('HGET', KEYS[1], ARGV[1]) "
    "if not v then return 0 end "
    "local ok, e = pcall(cjson.decode, v) "
    "if ok and tostring(e.s.session_id) ~= ARGV[2] then return 0 end "
    "return redis.call('HDEL', KEYS[1], ARGV[1])");
// KEYS: streams hash. ARGV: username ('' for all). Entries whose home beats.
const Script kFind(
    "local function alive(v) "
    "  local ok, e = pcall(cjson.decode, v) "
    "  return ok and redis.call('EXISTS', '" +
    str(kNodePrefix) +
    "' .. e.node) == 1 end "
    "if ARGV[1] ~= '' then "
    "  local v = redis.call('HGET', KEYS[1], ARGV[1]) "
    "  if v and alive(v) then return {v} end return {} end "
    "local out = {} local all = redis.call('HGETALL', KEYS[1]) "
    "for i = 2, #all, 2 do if alive(all[i]) then out[#out + 1] = all[i] end end "
    "return out");
// KEYS: streams hash. ARGV: ttl ms. Entries whose home stopped beating and that were not
// announced again for ttl, taken out: whoever gets one ends it.
const Script kOrphans(std::string(kNowLua) +
                      "local out = {} local all = redis.call('HGETALL', KEYS[1]) "
                      "for i = 1, #all, 2 do "
                      "  local ok, e = pcall(cjson.decode, all[i + 1]) "
                      "  if not ok then redis.call('HDEL', KEYS[1], all[i]) "
                      "  elseif redis.call('EXISTS', '" +
                      str(kNodePrefix) +
                      "' .. e.node) == 0 and "
                      "         now - tonumber(e.ms) > tonumber(ARGV[1]) then "
                      "    redis.call('HDEL', KEYS[1], all[i]) out[#out + 1] = all[i + 1] end "
                      "end "
                      "return out");
// KEYS: viewers hash of a stream. ARGV: node, count, ttl ms. Stores this node's count and
// returns the sum over nodes that reported within ttl (the others are dropped).
const Script kViewers(
    std::string(kNowLua) +
    "if tonumber(ARGV[2]) > 0 then "
    "  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. now) "
    "else redis.call('HDEL', KEYS[1], ARGV[1]) end "
    "local sum = 0 local all = redis.call('HGETALL', KEYS[1]) "
    "for i = 1, #all, 2 do "
    "  local c, ms = string.match(all[i + 1], '^(%d+):(%d+)$') "
    "  if c and now - tonumber(ms) <= tonumber(ARGV[3]) then sum = sum + tonumber(c) "
    "  else redis.call('HDEL', KEYS[1], all[i]) end "
    "end "
    "if sum > 0 then redis.call('PEXPIRE', KEYS[1], 60000) end "
    "return sum");

}  // namespace

RedisBus::RedisBus(RedisBusConfig config, const Clock& clock)
    : config_(std::move(config)), clock_(clock), seal_(config_.secret, config_.node_id, clock_) {
  config_.secret.clear();  // the seal holds the key; nothing else needs the secret
  link_ = std::make_unique<RedisLink>(config_.address, "redis-" + config_.node_id);
  subscriber_ = std::make_unique<RedisSubscriber>(
      config_.address, "redis-sub-" + config_.node_id,
      [this](std::string_view channel, std::string_view payload) { receive(channel, payload); });
}

void RedisBus::publish(const std::string& channel, std::string_view payload) {
  link_->command({"PUBLISH", channel, seal_.seal(channel, payload)});
}

RedisBus::~RedisBus() { stop(); }

void RedisBus::start() {
  // A node beats first thing after every (re)connect, before it announces any stream, so no
  // other node takes its streams for orphans after a Redis restart.
  link_->on_connect([this] {
    link_->command({"SET", node_key(config_.node_id), std::to_string(clock_.now_ms()), "PX",
                    std::to_string(config_.node_ttl_ms)});
    spdlog::info("event=redis_connected node={}", config_.node_id);
    if (events_.reconnected) events_.reconnected();
  });
  subscriber_->on_connect([this] {
    // Whatever was offered while this node was away: its idle workers look now.
    if (events_.frames_ready) events_.frames_ready();
  });
  subscriber_->subscribe(str(kReadyChannel));
  subscriber_->subscribe(node_channel(config_.node_id));
  subscriber_->subscribe(str(kAllChannel));
  link_->start();
  subscriber_->start();
}

void RedisBus::stop() {
  serving_->store(false);
  if (subscriber_) subscriber_->stop();
  if (link_) {
    // Gone at once rather than after the heartbeat expires: a clean exit has no orphans.
    link_->call({"DEL", node_key(config_.node_id)}, std::chrono::milliseconds(200));
    link_->stop();
  }
}

bool RedisBus::healthy() const { return link_->connected() && subscriber_->connected(); }

void RedisBus::listen(live::ClusterEvents events) { events_ = std::move(events); }

void RedisBus::offer(const live::FrameOffer& f, std::function<void()> done) {
  auto session = f.session_id;
  auto seq = f.seq;
  link_->eval(kOffer, {frame_key(session), str(kReadyKey), held_key(session)},
              {seal_.seal(kFrameContext, encode_offer(f)), std::to_string(session),
               std::to_string(config_.frame_ttl_ms)},
              [this, session, seq, done = std::move(done)](std::optional<Reply> r) {
                if (r && r->type == Reply::Type::kArray && r->elements.size() == 2 &&
                    r->elements[1].type == Reply::Type::kString)
                  supersede_at(r->elements[1].str, session, seq);
                if (done) done();
              });
}

void RedisBus::supersede_at(const std::string& node, long long session_id, std::uint64_t seq) {
  // No mark (''), or one that is not a node id (nothing but a node writes it; a space would
  // not parse on the other side).
  if (node.empty() || node.size() > 128 || node.find_first_of(" \n") != std::string::npos) return;
  if (node == config_.node_id) {
    if (events_.supersede) events_.supersede(session_id, seq);
    return;
  }
  publish(node_channel(node), encode(SupersedeMessage{config_.node_id, session_id, seq}));
}

void RedisBus::withdraw(long long session_id) {
  link_->command({"ZREM", str(kReadyKey), std::to_string(session_id)});
  link_->command({"DEL", frame_key(session_id)});
}

std::optional<live::FrameOffer> RedisBus::open_offer(std::string_view stored) {
  auto opened = seal_.open(kFrameContext, stored);
  if (!opened) return std::nullopt;
  return parse_offer(opened->payload);
}

void RedisBus::claim(std::function<void(std::optional<live::FrameOffer>)> handler) {
  link_->eval(kClaim, {str(kReadyKey)}, {},
              [this, handler = std::move(handler)](std::optional<Reply> r) {
                if (!r || r->type != Reply::Type::kString) return handler(std::nullopt);
                handler(open_offer(r->str));
              });
}

void RedisBus::claim_batch(int max, std::function<void(std::vector<live::FrameOffer>)> handler) {
  claim_for({max, 0, 0}, std::move(handler));
}

void RedisBus::claim_for(const live::ClaimAsk& ask,
                         std::function<void(std::vector<live::FrameOffer>)> handler) {
  bool mark = ask.mark_ms > 0;
  link_->eval(kClaimBatch, {str(kReadyKey)},
              {std::to_string(std::max(1, ask.max)), ask.first ? std::to_string(ask.first) : "",
               mark ? config_.node_id : "", std::to_string(mark ? ask.mark_ms : 0)},
              [this, handler = std::move(handler)](std::optional<Reply> r) {
                std::vector<live::FrameOffer> out;
                if (r && r->type == Reply::Type::kArray) {
                  for (const auto& e : r->elements) {
                    if (e.type != Reply::Type::kString) continue;
                    if (auto f = open_offer(e.str)) out.push_back(std::move(*f));
                  }
                }
                handler(std::move(out));
              });
}

void RedisBus::follow(const std::string& username) {
  subscriber_->subscribe(stream_channel(username));
}

void RedisBus::unfollow(const std::string& username) {
  subscriber_->unsubscribe(stream_channel(username));
}

void RedisBus::publish_result(const live::FrameResult& r) {
  publish(stream_channel(r.username), encode(ResultMessage{config_.node_id, r}));
}

void RedisBus::publish_text(const std::string& username, const Bytes& text) {
  if (!text) return;
  publish(stream_channel(username), encode(TextMessage{config_.node_id, *text}));
}

void RedisBus::announce(const live::StreamSnapshot& s) {
  link_->command({"HSET", str(kStreamsKey), s.username,
                  announced_json(config_.node_id, clock_.now_ms(), s).dump()});
}

void RedisBus::forget(const std::string& username, long long session_id) {
  link_->eval(kForget, {str(kStreamsKey)}, {username, std::to_string(session_id)});
}

std::optional<live::AnnouncedStream> RedisBus::find(const std::string& username) {
  if (!link_->connected()) return std::nullopt;
  auto r = link_->call_eval(kFind, {str(kStreamsKey)}, {username},
                            std::chrono::milliseconds(kLookupTimeoutMs));
  if (!r || r->type != Reply::Type::kArray || r->elements.empty()) return std::nullopt;
  return parse_announced(r->elements.front().str);
}

std::optional<std::vector<live::AnnouncedStream>> RedisBus::streams() {
  std::vector<live::AnnouncedStream> out;
  if (!link_->connected()) return std::nullopt;
  auto r = link_->call_eval(kFind, {str(kStreamsKey)}, {""},
                            std::chrono::milliseconds(kLookupTimeoutMs));
  if (!r || r->type != Reply::Type::kArray) return std::nullopt;
  for (const auto& e : r->elements) {
    if (auto a = parse_announced(e.str)) out.push_back(std::move(*a));
  }
  return out;
}

bool RedisBus::node_alive(const std::string& node) {
  auto r = link_->call({"EXISTS", node_key(node)}, std::chrono::milliseconds(kLookupTimeoutMs));
  // Unknown (Redis away) counts as alive: nobody takes a stream over on a guess.
  return !r || r->type != Reply::Type::kInteger || r->integer == 1;
}

std::vector<live::AnnouncedStream> RedisBus::orphans() {
  std::vector<live::AnnouncedStream> out;
  if (!link_->connected()) return out;
  auto r = link_->call_eval(kOrphans, {str(kStreamsKey)}, {std::to_string(config_.node_ttl_ms)},
                            std::chrono::milliseconds(kLookupTimeoutMs));
  if (!r || r->type != Reply::Type::kArray) return out;
  for (const auto& e : r->elements) {
    if (auto a = parse_announced(e.str)) out.push_back(std::move(*a));
  }
  return out;
}

bool RedisBus::lease(const std::string& name, std::chrono::milliseconds ttl) {
  auto r = link_->call(
      {"SET", lease_key(name), config_.node_id, "NX", "PX", std::to_string(ttl.count())},
      std::chrono::milliseconds(kLookupTimeoutMs));
  return r && r->type == Reply::Type::kStatus;
}

void RedisBus::report_viewers(const std::map<std::string, int>& local) {
  std::set<std::string> gone;
  {
    std::lock_guard lock(reported_mutex_);
    for (const auto& name : reported_) {
      if (!local.contains(name)) gone.insert(name);
    }
    reported_.clear();
    for (const auto& [name, n] : local) reported_.insert(name);
  }
  auto ttl = std::to_string(config_.node_ttl_ms);
  for (const auto& name : gone)
    link_->eval(kViewers, {viewers_key(name)}, {config_.node_id, "0", ttl});
  for (const auto& entry : local) {
    // Named, not a structured binding: clang 14 (the fuzz build) cannot capture those.
    const std::string& name = entry.first;
    link_->eval(kViewers, {viewers_key(name)}, {config_.node_id, std::to_string(entry.second), ttl},
                [this, name](std::optional<Reply> r) {
                  if (r && r->type == Reply::Type::kInteger && events_.viewers)
                    events_.viewers(name, static_cast<int>(r->integer));
                });
  }
}

void RedisBus::report_workers(int total, int busy) {
  auto ttl = std::to_string(config_.node_ttl_ms);
  // Two sums on one link: the second's answer comes after the first's.
  link_->eval(kViewers, {str(kWorkersTotalKey)}, {config_.node_id, std::to_string(total), ttl},
              [this](std::optional<Reply> r) {
                if (r && r->type == Reply::Type::kInteger)
                  pool_total_ = static_cast<int>(r->integer);
              });
  link_->eval(kViewers, {str(kWorkersBusyKey)}, {config_.node_id, std::to_string(busy), ttl},
              [this](std::optional<Reply> r) {
                if (r && r->type == Reply::Type::kInteger && events_.workers)
                  events_.workers(pool_total_, static_cast<int>(r->integer));
              });
}

void RedisBus::tick() {
  expire_calls();
  auto now = clock_.now_ms();
  if (now - last_beat_ms_ < config_.heartbeat_ms) return;
  last_beat_ms_ = now;
  link_->command({"SET", node_key(config_.node_id), std::to_string(now), "PX",
                  std::to_string(config_.node_ttl_ms)});
}

void RedisBus::serve_calls(std::function<live::Call(const live::Call&)> handler) {
  call_handler_ = [handler = std::move(handler)](const live::Call& c, Respond respond) {
    respond(handler(c));
  };
}

void RedisBus::serve_calls_async(std::function<void(const live::Call&, Respond)> handler) {
  call_handler_ = std::move(handler);
}

void RedisBus::call_async(const std::string& node, const live::Call& request,
                          std::chrono::milliseconds timeout,
                          std::function<void(std::optional<live::Call>)> done) {
  if (!healthy()) return done(std::nullopt);
  auto id = next_call_++;
  auto pending = std::make_shared<Pending>();
  auto deadline = clock_.now_ms() + timeout.count();
  pending->done = std::move(done);
  pending->deadline_ms = deadline;
  {
    std::lock_guard lock(calls_mutex_);
    calls_[id] = pending;
  }
  publish(node_channel(node), encode(CallMessage{id, config_.node_id, deadline, request}));
}

void RedisBus::expire_calls() {
  std::vector<std::shared_ptr<Pending>> late;
  {
    std::lock_guard lock(calls_mutex_);
    auto now = clock_.now_ms();
    std::erase_if(calls_, [&](const auto& kv) {
      if (!kv.second->done || kv.second->deadline_ms > now) return false;
      late.push_back(kv.second);
      return true;
    });
  }
  for (auto& p : late) p->done(std::nullopt);
}

std::optional<live::Call> RedisBus::call(const std::string& node, const live::Call& request,
                                         std::chrono::milliseconds timeout) {
  if (!healthy()) return std::nullopt;
  event_loop::note_wait("node_call");
  auto id = next_call_++;
  auto pending = std::make_shared<Pending>();
  {
    std::lock_guard lock(calls_mutex_);
    calls_[id] = pending;
  }
  // The deadline travels with the call: a call its caller gave up on never runs later.
  auto deadline = clock_.now_ms() + timeout.count();
  publish(node_channel(node), encode(CallMessage{id, config_.node_id, deadline, request}));
  std::optional<live::Call> reply;
  {
    std::unique_lock lock(pending->mutex);
    pending->cv.wait_for(lock, timeout, [&] { return pending->reply.has_value(); });
    reply = std::move(pending->reply);
  }
  std::lock_guard lock(calls_mutex_);
  calls_.erase(id);
  return reply;
}

void RedisBus::broadcast(const live::Call& message) {
  publish(str(kAllChannel), encode(BroadcastMessage{config_.node_id, message}));
}

void RedisBus::receive(std::string_view channel, std::string_view sealed) {
  if (channel == kReadyChannel) {
    // Only a wake-up (Redis's own script publishes it): idle workers look at the line, where
    // every frame is sealed.
    if (events_.frames_ready) events_.frames_ready();
    return;
  }
  OpenFailure why{};
  auto opened = seal_.open(channel, sealed, &why);
  if (!opened) {
    auto c = seal_.counters();
    auto n = c.forged + c.stale + c.replayed;
    // Counted in /metrics; logged now and then, so a flood of junk cannot flood the log.
    if (n == 1 || n % 1000 == 0) {
      spdlog::warn("event=cluster_message_dropped reason={} dropped_total={}",
                   why == OpenFailure::kForged  ? "forged"
                   : why == OpenFailure::kStale ? "stale"
                                                : "replayed",
                   n);
    }
    return;
  }
  std::string_view payload = opened->payload;
  if (channel == kAllChannel) {
    if (auto b = parse_broadcast(payload)) on_broadcast(std::move(*b), opened->sender);
    return;
  }
  if (channel == node_channel(config_.node_id)) {
    auto m = parse_node_message(payload);
    if (!m) return;
    if (auto* c = std::get_if<CallMessage>(&*m)) on_call(std::move(*c), opened->sender);
    if (auto* r = std::get_if<ReplyMessage>(&*m)) on_reply(std::move(*r));
    if (auto* x = std::get_if<SupersedeMessage>(&*m)) {
      // Only the home that sealed it speaks for its stream's frames.
      if (x->from == opened->sender && events_.supersede) events_.supersede(x->session_id, x->seq);
    }
    return;
  }
  auto username = stream_of_channel(channel);
  if (!username) return;
  auto m = parse_channel_message(payload, *username);
  if (!m) return;
  // Our own messages come back too: this node has already acted on them.
  if (auto* t = std::get_if<TextMessage>(&*m)) {
    if (t->from != opened->sender || t->from == config_.node_id) return;
    if (events_.text) events_.text(*username, make_bytes(std::move(t->text)));
  } else if (auto* f = std::get_if<ResultMessage>(&*m)) {
    if (f->from != opened->sender || f->from == config_.node_id) return;
    if (events_.result) events_.result(f->result);
  }
}

void RedisBus::on_call(CallMessage m, const std::string& sender) {
  if (m.from != sender) return;  // replies go to the node that sealed the call, or nowhere
  if (!call_handler_) return;
  auto run = [this, m = std::move(m)] {
    // Checked when it runs, after any wait in the executor's queue: the caller has given up
    // (and may have acted otherwise), so it must not happen now.
    if (clock_.now_ms() >= m.deadline_ms) {
      expired_calls_++;
      spdlog::warn("event=cluster_call_expired from={} late_ms={}", m.from,
                   clock_.now_ms() - m.deadline_ms);
      return;
    }
    auto respond = [this, serving = serving_, id = m.id, from = m.from](live::Call answer) {
      if (!serving->load()) return;  // stopped meanwhile (an answer given late)
      publish(node_channel(from), encode(ReplyMessage{id, std::move(answer)}));
    };
    try {
      call_handler_(m.call, respond);
    } catch (const std::exception& e) {
      respond(live::Call{{{"error", e.what()}}, {}});
    }
  };
  if (config_.executor) {
    config_.executor(std::move(run));
  } else {
    run();
  }
}

void RedisBus::on_broadcast(BroadcastMessage b, const std::string& sender) {
  if (b.from != sender || sender == config_.node_id || !call_handler_) return;
  auto run = [this, b = std::move(b)] {
    try {
      call_handler_(b.message, [](live::Call) {});
    } catch (const std::exception& e) {
      spdlog::warn("event=cluster_broadcast_failed from={} error=\"{}\"", b.from, e.what());
    }
  };
  if (config_.executor) {
    config_.executor(std::move(run));
  } else {
    run();
  }
}

void RedisBus::on_reply(ReplyMessage r) {
  std::shared_ptr<Pending> pending;
  {
    std::lock_guard lock(calls_mutex_);
    auto it = calls_.find(r.id);
    if (it == calls_.end()) return;  // the caller stopped waiting
    pending = it->second;
    if (pending->done) calls_.erase(it);
  }
  if (pending->done) return pending->done(std::move(r.reply));
  std::lock_guard lock(pending->mutex);
  pending->reply = std::move(r.reply);
  pending->cv.notify_all();
}

live::ClusterStats RedisBus::stats() const {
  live::ClusterStats s{link_->commands_sent(), link_->bytes_sent(),
                       subscriber_->messages_received(), subscriber_->bytes_received()};
  auto sealed = seal_.counters();
  s.dropped_forged = sealed.forged;
  s.dropped_stale = sealed.stale;
  s.dropped_replayed = sealed.replayed;
  s.calls_expired = expired_calls_.load();
  return s;
}

}  // namespace ds::cluster
