#include "cluster/redis_bus.hpp"

#include <spdlog/spdlog.h>

#include <charconv>

namespace ds::cluster {

namespace {

using live::Bytes;
using live::make_bytes;
using nlohmann::json;

constexpr const char* kReady = "ds:ready";         // sorted set: streams by waiting time
constexpr const char* kReadyChannel = "ds:ready";  // pub/sub: a stream joined the line
constexpr const char* kAllChannel = "ds:all";      // pub/sub: broadcast to every node
constexpr const char* kStreams = "ds:streams";     // hash: username → announced stream
constexpr std::int64_t kLookupTimeoutMs = 250;
// The seal's context for frames waiting in line (stored under ds:f:<session>).
constexpr std::string_view kFrameContext = "ds:f";

std::string frame_key(long long session_id) { return "ds:f:" + std::to_string(session_id); }
std::string node_key(const std::string& node) { return "ds:node:" + node; }
std::string node_channel(const std::string& node) { return "ds:n:" + node; }
std::string stream_channel(const std::string& username) { return "ds:c:" + username; }
std::string viewers_key(const std::string& username) { return "ds:v:" + username; }

// Redis's own clock, so nodes on other hosts agree on who has waited longest.
constexpr const char* kNowLua =
    "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + "
    "math.floor(tonumber(t[2]) / 1000) ";

// KEYS: frame key, ready set. ARGV: payload, session id, ttl ms. A replaced frame keeps its
// stream's place in line; a stream joining the line wakes idle workers everywhere. It joins
// strictly behind every stream already waiting (microseconds, and never level with the last
// one: a tie would go by session id, so a stream could get a second turn while another waits).
const Script kOffer(
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3]) "
    "if redis.call('ZSCORE', KEYS[2], ARGV[2]) then return 0 end "
    "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000000 + tonumber(t[2]) "
    "local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES') "
    "if last[2] and tonumber(last[2]) >= now then now = tonumber(last[2]) + 1 end "
    "redis.call('ZADD', KEYS[2], now, ARGV[2]) "
    "redis.call('PUBLISH', 'ds:ready', '') return 1");
// KEYS: ready set. The longest-waiting stream's frame, taken (a stream whose frame expired
// or was withdrawn is skipped).
const Script kClaim(
    "for i = 1, 32 do "
    "  local m = redis.call('ZPOPMIN', KEYS[1]) "
    "  if #m == 0 then return false end "
    "  local f = redis.call('GETDEL', 'ds:f:' .. m[1]) "
    "  if f then return f end "
    "end "
    "return false");
// KEYS: ready set. ARGV: max. The frames of up to max longest-waiting streams, taken.
const Script kClaimBatch(
    "local out = {} local n = tonumber(ARGV[1]) "
    "for i = 1, n + 32 do "
    "  if #out >= n then break end "
    "  local m = redis.call('ZPOPMIN', KEYS[1]) "
    "  if #m == 0 then break end "
    "  local f = redis.call('GETDEL', 'ds:f:' .. m[1]) "
    "  if f then out[#out + 1] = f end "
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
    "  return ok and redis.call('EXISTS', 'ds:node:' .. e.node) == 1 end "
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
                      "  elseif redis.call('EXISTS', 'ds:node:' .. e.node) == 0 and "
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

// "<head>\n<rest>": the head and the rest, or nullopt without a newline.
std::optional<std::pair<std::string_view, std::string_view>> split_line(std::string_view s) {
  auto nl = s.find('\n');
  if (nl == std::string_view::npos) return std::nullopt;
  return std::make_pair(s.substr(0, nl), s.substr(nl + 1));
}

std::optional<json> parse(std::string_view text) {
  auto j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

std::string encode_call(char kind, const std::string& head, const live::Call& c) {
  std::string out;
  out.reserve(head.size() + c.body.size() + 64);
  out += kind;
  out += head;
  out += '\n';
  out += c.header.dump();
  out += '\n';
  out += c.body;
  return out;
}

std::optional<live::Call> decode_call(std::string_view rest) {
  auto parts = split_line(rest);
  if (!parts) return std::nullopt;
  auto header = parse(parts->first);
  if (!header) return std::nullopt;
  return live::Call{std::move(*header), std::string(parts->second)};
}

}  // namespace

json announced_json(const std::string& node, std::int64_t now_ms, const live::StreamSnapshot& s) {
  return {{"node", node},
          {"ms", now_ms},
          {"s",
           {{"session_id", s.session_id},
            {"user_id", s.user_id},
            {"username", s.username},
            {"display_name", s.display_name},
            {"state", s.state},
            {"viewers", s.viewers},
            {"max_viewers", s.max_viewers},
            {"opened_ms", s.opened_ms},
            {"first_frame_ms", s.first_frame_ms},
            {"last_frame_ms", s.last_frame_ms},
            {"frames_in", s.frames_in},
            {"frames_dropped", s.frames_dropped},
            {"frames_skipped", s.frames_skipped},
            {"frames_out", s.frames_out},
            {"fps_in", s.fps_in},
            {"fps_out", s.fps_out},
            {"model_ms", s.model_ms},
            {"frame_age_ms", s.frame_age_ms},
            {"has_ingest", s.has_ingest},
            {"prompt", s.style.prompt},
            {"strength", s.style.strength},
            {"seed", s.style.seed}}}};
}

std::optional<live::AnnouncedStream> parse_announced(std::string_view text) {
  auto j = parse(text);
  if (!j) return std::nullopt;
  try {
    live::AnnouncedStream a;
    a.node = j->at("node").get<std::string>();
    a.updated_ms = j->at("ms").get<std::int64_t>();
    const auto& s = j->at("s");
    auto& o = a.snapshot;
    o.session_id = s.at("session_id").get<long long>();
    o.user_id = s.at("user_id").get<long long>();
    o.username = s.at("username").get<std::string>();
    o.display_name = s.at("display_name").get<std::string>();
    o.state = s.at("state").get<std::string>();
    o.viewers = s.at("viewers").get<int>();
    o.max_viewers = s.at("max_viewers").get<int>();
    o.opened_ms = s.at("opened_ms").get<std::int64_t>();
    o.first_frame_ms = s.at("first_frame_ms").get<std::int64_t>();
    o.last_frame_ms = s.at("last_frame_ms").get<std::int64_t>();
    o.frames_in = s.at("frames_in").get<std::uint64_t>();
    o.frames_dropped = s.at("frames_dropped").get<std::uint64_t>();
    // Optional: announced by a node of an older version during a rolling upgrade.
    o.frames_skipped = s.value("frames_skipped", std::uint64_t{0});
    o.frames_out = s.at("frames_out").get<std::uint64_t>();
    o.fps_in = s.at("fps_in").get<double>();
    o.fps_out = s.at("fps_out").get<double>();
    o.model_ms = s.at("model_ms").get<double>();
    o.frame_age_ms = s.at("frame_age_ms").get<std::int64_t>();
    o.has_ingest = s.at("has_ingest").get<bool>();
    o.style.prompt = s.at("prompt").get<std::string>();
    o.style.strength = s.at("strength").get<double>();
    o.style.seed = s.at("seed").get<std::int64_t>();
    return a;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

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
  subscriber_->subscribe(kReadyChannel);
  subscriber_->subscribe(node_channel(config_.node_id));
  subscriber_->subscribe(kAllChannel);
  link_->start();
  subscriber_->start();
}

void RedisBus::stop() {
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
  json head = {{"s", f.session_id},  {"u", f.username},     {"q", f.seq},
               {"c", f.captured_ms}, {"p", f.style.prompt}, {"t", f.style.strength},
               {"e", f.style.seed}};
  std::string payload = head.dump();
  payload += '\n';
  if (f.jpeg) payload += *f.jpeg;
  link_->eval(kOffer, {frame_key(f.session_id), kReady},
              {seal_.seal(kFrameContext, payload), std::to_string(f.session_id),
               std::to_string(config_.frame_ttl_ms)},
              [done = std::move(done)](std::optional<Reply>) {
                if (done) done();
              });
}

void RedisBus::withdraw(long long session_id) {
  link_->command({"ZREM", kReady, std::to_string(session_id)});
  link_->command({"DEL", frame_key(session_id)});
}

namespace {

// One offered frame as kOffer stored it: a JSON head line, then the JPEG.
std::optional<live::FrameOffer> parse_offer(const std::string& stored) {
  auto parts = split_line(stored);
  auto head = parts ? parse(parts->first) : std::nullopt;
  if (!head) return std::nullopt;
  try {
    live::FrameOffer f;
    f.session_id = head->at("s").get<long long>();
    f.username = head->at("u").get<std::string>();
    f.seq = head->at("q").get<std::uint64_t>();
    f.captured_ms = head->at("c").get<std::int64_t>();
    f.style.prompt = head->at("p").get<std::string>();
    f.style.strength = head->at("t").get<double>();
    f.style.seed = head->at("e").get<std::int64_t>();
    f.jpeg = make_bytes(std::string(parts->second));
    return f;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

std::optional<live::FrameOffer> RedisBus::open_offer(std::string_view stored) {
  auto opened = seal_.open(kFrameContext, stored);
  if (!opened) return std::nullopt;
  return parse_offer(opened->payload);
}

void RedisBus::claim(std::function<void(std::optional<live::FrameOffer>)> handler) {
  link_->eval(kClaim, {kReady}, {}, [this, handler = std::move(handler)](std::optional<Reply> r) {
    if (!r || r->type != Reply::Type::kString) return handler(std::nullopt);
    handler(open_offer(r->str));
  });
}

void RedisBus::claim_batch(int max, std::function<void(std::vector<live::FrameOffer>)> handler) {
  link_->eval(kClaimBatch, {kReady}, {std::to_string(std::max(1, max))},
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
  json head = {{"s", r.session_id},   {"q", r.seq},      {"c", r.captured_ms},
               {"p", r.processed_ms}, {"m", r.model_ms}, {"t", r.timings}};
  std::string payload = "F" + config_.node_id + "\n" + head.dump() + "\n";
  if (r.jpeg) payload += *r.jpeg;
  publish(stream_channel(r.username), payload);
}

void RedisBus::publish_text(const std::string& username, const Bytes& text) {
  if (!text) return;
  publish(stream_channel(username), "T" + config_.node_id + "\n" + *text);
}

void RedisBus::announce(const live::StreamSnapshot& s) {
  link_->command(
      {"HSET", kStreams, s.username, announced_json(config_.node_id, clock_.now_ms(), s).dump()});
}

void RedisBus::forget(const std::string& username, long long session_id) {
  link_->eval(kForget, {kStreams}, {username, std::to_string(session_id)});
}

std::optional<live::AnnouncedStream> RedisBus::find(const std::string& username) {
  if (!link_->connected()) return std::nullopt;
  auto r =
      link_->call_eval(kFind, {kStreams}, {username}, std::chrono::milliseconds(kLookupTimeoutMs));
  if (!r || r->type != Reply::Type::kArray || r->elements.empty()) return std::nullopt;
  return parse_announced(r->elements.front().str);
}

std::optional<std::vector<live::AnnouncedStream>> RedisBus::streams() {
  std::vector<live::AnnouncedStream> out;
  if (!link_->connected()) return std::nullopt;
  auto r = link_->call_eval(kFind, {kStreams}, {""}, std::chrono::milliseconds(kLookupTimeoutMs));
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
  auto r = link_->call_eval(kOrphans, {kStreams}, {std::to_string(config_.node_ttl_ms)},
                            std::chrono::milliseconds(kLookupTimeoutMs));
  if (!r || r->type != Reply::Type::kArray) return out;
  for (const auto& e : r->elements) {
    if (auto a = parse_announced(e.str)) out.push_back(std::move(*a));
  }
  return out;
}

bool RedisBus::lease(const std::string& name, std::chrono::milliseconds ttl) {
  auto r = link_->call(
      {"SET", "ds:lease:" + name, config_.node_id, "NX", "PX", std::to_string(ttl.count())},
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
  link_->eval(kViewers, {"ds:w:total"}, {config_.node_id, std::to_string(total), ttl},
              [this](std::optional<Reply> r) {
                if (r && r->type == Reply::Type::kInteger)
                  pool_total_ = static_cast<int>(r->integer);
              });
  link_->eval(kViewers, {"ds:w:busy"}, {config_.node_id, std::to_string(busy), ttl},
              [this](std::optional<Reply> r) {
                if (r && r->type == Reply::Type::kInteger && events_.workers)
                  events_.workers(pool_total_, static_cast<int>(r->integer));
              });
}

void RedisBus::tick() {
  auto now = clock_.now_ms();
  if (now - last_beat_ms_ < config_.heartbeat_ms) return;
  last_beat_ms_ = now;
  link_->command({"SET", node_key(config_.node_id), std::to_string(now), "PX",
                  std::to_string(config_.node_ttl_ms)});
}

void RedisBus::serve_calls(std::function<live::Call(const live::Call&)> handler) {
  call_handler_ = std::move(handler);
}

std::optional<live::Call> RedisBus::call(const std::string& node, const live::Call& request,
                                         std::chrono::milliseconds timeout) {
  if (!healthy()) return std::nullopt;
  auto id = next_call_++;
  auto pending = std::make_shared<Pending>();
  {
    std::lock_guard lock(calls_mutex_);
    calls_[id] = pending;
  }
  // The deadline travels with the call: a call its caller gave up on never runs later.
  auto deadline = clock_.now_ms() + timeout.count();
  publish(
      node_channel(node),
      encode_call('Q', std::to_string(id) + " " + config_.node_id + " " + std::to_string(deadline),
                  request));
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
  publish(kAllChannel, encode_call('B', config_.node_id, message));
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
  if (payload.empty()) return;
  if (channel == kAllChannel) {
    if (payload.front() == 'B') on_broadcast(payload.substr(1), opened->sender);
    return;
  }
  if (channel.starts_with("ds:n:")) {
    if (payload.front() == 'Q') on_call(payload.substr(1), opened->sender);
    if (payload.front() == 'R') on_reply(payload.substr(1));
    return;
  }
  if (!channel.starts_with("ds:c:")) return;
  std::string username(channel.substr(5));
  auto kind = payload.front();
  auto parts = split_line(payload.substr(1));
  // Our own messages come back too: this node has already acted on them.
  if (!parts || parts->first != opened->sender || parts->first == config_.node_id) return;
  if (kind == 'T') {
    if (events_.text) events_.text(username, make_bytes(std::string(parts->second)));
  } else if (kind == 'F') {
    auto body = split_line(parts->second);
    auto head = body ? parse(body->first) : std::nullopt;
    if (!head || !events_.result) return;
    try {
      live::FrameResult r;
      r.session_id = head->at("s").get<long long>();
      r.username = username;
      r.seq = head->at("q").get<std::uint64_t>();
      r.captured_ms = head->at("c").get<std::int64_t>();
      r.processed_ms = head->at("p").get<std::int64_t>();
      r.model_ms = head->at("m").get<double>();
      r.timings = head->at("t");
      r.jpeg = make_bytes(std::string(body->second));
      events_.result(r);
    } catch (const std::exception& e) {
      spdlog::warn("event=cluster_bad_message channel={} error=\"{}\"", channel, e.what());
    }
  }
}

void RedisBus::on_call(std::string_view payload, const std::string& sender) {
  // "<id> <from> <deadline ms>\n<header>\n<body>"
  auto parts = split_line(payload);
  if (!parts) return;
  auto head = parts->first;
  auto space = head.find(' ');
  auto last = head.rfind(' ');
  if (space == std::string_view::npos || last == space) return;
  std::string id(head.substr(0, space));
  std::string from(head.substr(space + 1, last - space - 1));
  std::int64_t deadline_ms = 0;
  auto deadline = head.substr(last + 1);
  auto [end, ec] = std::from_chars(deadline.data(), deadline.data() + deadline.size(), deadline_ms);
  if (ec != std::errc() || end != deadline.data() + deadline.size()) return;
  if (from != sender) return;  // replies go to the node that sealed the call, or nowhere
  auto request = decode_call(parts->second);
  if (!request || !call_handler_) return;
  auto run = [this, id, from, deadline_ms, request = std::move(*request)] {
    // Checked when it runs, after any wait in the executor's queue: the caller has given up
    // (and may have acted otherwise), so it must not happen now.
    if (clock_.now_ms() >= deadline_ms) {
      expired_calls_++;
      spdlog::warn("event=cluster_call_expired from={} late_ms={}", from,
                   clock_.now_ms() - deadline_ms);
      return;
    }
    live::Call reply;
    try {
      reply = call_handler_(request);
    } catch (const std::exception& e) {
      reply.header = {{"error", e.what()}};
    }
    publish(node_channel(from), encode_call('R', id, reply));
  };
  if (config_.executor) {
    config_.executor(std::move(run));
  } else {
    run();
  }
}

void RedisBus::on_broadcast(std::string_view payload, const std::string& sender) {
  // "<from>\n<header>\n<body>"
  auto parts = split_line(payload);
  if (!parts || parts->first != sender || sender == config_.node_id) return;
  auto message = decode_call(parts->second);
  if (!message || !call_handler_) return;
  auto run = [this, message = std::move(*message), sender] {
    try {
      (void)call_handler_(message);
    } catch (const std::exception& e) {
      spdlog::warn("event=cluster_broadcast_failed from={} error=\"{}\"", sender, e.what());
    }
  };
  if (config_.executor) {
    config_.executor(std::move(run));
  } else {
    run();
  }
}

void RedisBus::on_reply(std::string_view payload) {
  auto parts = split_line(payload);
  if (!parts) return;
  std::uint64_t id = 0;
  try {
    id = std::stoull(std::string(parts->first));
  } catch (const std::exception&) {
    return;
  }
  auto reply = decode_call(parts->second);
  if (!reply) return;
  std::shared_ptr<Pending> pending;
  {
    std::lock_guard lock(calls_mutex_);
    auto it = calls_.find(id);
    if (it == calls_.end()) return;  // the caller stopped waiting
    pending = it->second;
  }
  std::lock_guard lock(pending->mutex);
  pending->reply = std::move(*reply);
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
