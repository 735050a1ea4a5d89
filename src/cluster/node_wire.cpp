#include "cluster/node_wire.hpp"

#include <charconv>

namespace ds::cluster::wire {

namespace {

using nlohmann::json;

// "<head>\n<rest>": the head and the rest, or nullopt without a newline.
std::optional<std::pair<std::string_view, std::string_view>> split_line(std::string_view s) {
  auto nl = s.find('\n');
  if (nl == std::string_view::npos) return std::nullopt;
  return std::make_pair(s.substr(0, nl), s.substr(nl + 1));
}

std::optional<json> parse_object(std::string_view text) {
  auto j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

template <class Int>
std::optional<Int> parse_int(std::string_view s) {
  Int v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// kind, head, then "\n<header JSON>\n<body>".
std::string with_call(char kind, std::string_view head, const live::Call& c) {
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

std::optional<live::Call> parse_call(std::string_view rest) {
  auto parts = split_line(rest);
  if (!parts) return std::nullopt;
  auto header = parse_object(parts->first);
  if (!header) return std::nullopt;
  return live::Call{std::move(*header), std::string(parts->second)};
}

}  // namespace

std::string frame_key(long long session_id) {
  return std::string(kFramePrefix) + std::to_string(session_id);
}
std::string held_key(long long session_id) {
  return std::string(kHeldPrefix) + std::to_string(session_id);
}
std::string node_key(const std::string& node) { return std::string(kNodePrefix) + node; }
std::string node_channel(const std::string& node) { return std::string(kNodeChannelPrefix) + node; }
std::string stream_channel(const std::string& username) {
  return std::string(kStreamChannelPrefix) + username;
}
std::string viewers_key(const std::string& username) {
  return std::string(kViewersPrefix) + username;
}
std::string lease_key(const std::string& name) { return std::string(kLeasePrefix) + name; }

std::optional<std::string> stream_of_channel(std::string_view channel) {
  if (!channel.starts_with(kStreamChannelPrefix)) return std::nullopt;
  return std::string(channel.substr(kStreamChannelPrefix.size()));
}

std::string encode_offer(const live::FrameOffer& f) {
  json head = {
      {"session_id", f.session_id},   {"username", f.username},   {"seq", f.seq},
      {"captured_ms", f.captured_ms}, {"prompt", f.style.prompt}, {"strength", f.style.strength},
      {"seed", f.style.seed}};
  std::string out = head.dump();
  out += '\n';
  if (f.jpeg) out += *f.jpeg;
  return out;
}

std::optional<live::FrameOffer> parse_offer(std::string_view payload) {
  auto parts = split_line(payload);
  auto head = parts ? parse_object(parts->first) : std::nullopt;
  if (!head) return std::nullopt;
  try {
    live::FrameOffer f;
    f.session_id = head->at("session_id").get<long long>();
    f.username = head->at("username").get<std::string>();
    f.seq = head->at("seq").get<std::uint64_t>();
    f.captured_ms = head->at("captured_ms").get<std::int64_t>();
    f.style.prompt = head->at("prompt").get<std::string>();
    f.style.strength = head->at("strength").get<double>();
    f.style.seed = head->at("seed").get<std::int64_t>();
    f.jpeg = live::make_bytes(std::string(parts->second));
    return f;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string encode(const TextMessage& m) { return "T" + m.from + "\n" + m.text; }

std::string encode(const ResultMessage& m) {
  const auto& r = m.result;
  json head = {{"session_id", r.session_id},   {"seq", r.seq},
               {"captured_ms", r.captured_ms}, {"processed_ms", r.processed_ms},
               {"model_ms", r.model_ms},       {"timings", r.timings}};
  std::string out = "F" + m.from + "\n" + head.dump() + "\n";
  if (r.jpeg) out += *r.jpeg;
  return out;
}

std::optional<ChannelMessage> parse_channel_message(std::string_view payload,
                                                    const std::string& username) {
  if (payload.empty()) return std::nullopt;
  auto kind = payload.front();
  auto parts = split_line(payload.substr(1));
  if (!parts || parts->first.empty()) return std::nullopt;
  std::string from(parts->first);
  if (kind == 'T') return TextMessage{std::move(from), std::string(parts->second)};
  if (kind != 'F') return std::nullopt;
  auto body = split_line(parts->second);
  auto head = body ? parse_object(body->first) : std::nullopt;
  if (!head) return std::nullopt;
  try {
    live::FrameResult r;
    r.session_id = head->at("session_id").get<long long>();
    r.username = username;
    r.seq = head->at("seq").get<std::uint64_t>();
    r.captured_ms = head->at("captured_ms").get<std::int64_t>();
    r.processed_ms = head->at("processed_ms").get<std::int64_t>();
    r.model_ms = head->at("model_ms").get<double>();
    r.timings = head->at("timings");
    r.jpeg = live::make_bytes(std::string(body->second));
    return ResultMessage{std::move(from), std::move(r)};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string encode(const CallMessage& m) {
  return with_call('Q', std::to_string(m.id) + " " + m.from + " " + std::to_string(m.deadline_ms),
                   m.call);
}

std::string encode(const ReplyMessage& m) { return with_call('R', std::to_string(m.id), m.reply); }

std::string encode(const BroadcastMessage& m) { return with_call('B', m.from, m.message); }

// "S<from> <session id> <seq>"
std::string encode(const SupersedeMessage& m) {
  return "S" + m.from + " " + std::to_string(m.session_id) + " " + std::to_string(m.seq);
}

std::optional<NodeMessage> parse_node_message(std::string_view payload) {
  if (payload.empty()) return std::nullopt;
  auto kind = payload.front();
  if (kind == 'S') {
    auto head = payload.substr(1);
    auto space = head.find(' ');
    auto last = head.rfind(' ');
    if (space == 0 || space == std::string_view::npos || last == space) return std::nullopt;
    auto session = parse_int<long long>(head.substr(space + 1, last - space - 1));
    auto seq = parse_int<std::uint64_t>(head.substr(last + 1));
    if (!session || !seq || *session <= 0) return std::nullopt;
    return SupersedeMessage{std::string(head.substr(0, space)), *session, *seq};
  }
  auto parts = split_line(payload.substr(1));
  if (!parts) return std::nullopt;
  auto head = parts->first;
  auto call = parse_call(parts->second);
  if (!call) return std::nullopt;
  if (kind == 'R') {
    auto id = parse_int<std::uint64_t>(head);
    if (!id) return std::nullopt;
    return ReplyMessage{*id, std::move(*call)};
  }
  if (kind != 'Q') return std::nullopt;
  // "<id> <from> <deadline ms>"
  auto space = head.find(' ');
  auto last = head.rfind(' ');
  if (space == std::string_view::npos || last == space) return std::nullopt;
  auto id = parse_int<std::uint64_t>(head.substr(0, space));
  auto deadline = parse_int<std::int64_t>(head.substr(last + 1));
  std::string from(head.substr(space + 1, last - space - 1));
  if (!id || !deadline || from.empty()) return std::nullopt;
  return CallMessage{*id, std::move(from), *deadline, std::move(*call)};
}

std::optional<BroadcastMessage> parse_broadcast(std::string_view payload) {
  if (payload.empty() || payload.front() != 'B') return std::nullopt;
  auto parts = split_line(payload.substr(1));
  if (!parts || parts->first.empty()) return std::nullopt;
  auto message = parse_call(parts->second);
  if (!message) return std::nullopt;
  return BroadcastMessage{std::string(parts->first), std::move(*message)};
}

json announced_json(const std::string& node, std::int64_t now_ms, const live::StreamSnapshot& s) {
  return {{"node", node},
          {"ms", now_ms},
          {"s",
           {{"session_id", s.session_id},
            {"user_id", s.user_id},
            {"username", s.username},
            {"display_name", s.display_name},
            {"state", live::to_string(s.state)},
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
  auto j = parse_object(text);
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
    // A state this version does not know (a newer node's) reads as waiting: open, no picture.
    o.state = live::parse_stream_state(s.at("state").get<std::string>())
                  .value_or(live::StreamState::kWaiting);
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

}  // namespace ds::cluster::wire
