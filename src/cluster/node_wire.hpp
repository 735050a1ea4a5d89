// Everything one node says to another through Redis, as typed messages with an encode/parse
// pair each (like live/protocol for the public sockets), and every Redis name the nodes share,
// defined once: the Lua scripts of cluster/redis_bus take their prefixes from here. Sealing
// (cluster/seal) wraps these payloads; this layer never sees a key. A parse returns nullopt for
// anything malformed, never throws. docs/architecture.md ("Many nodes") lists the names.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "live/cluster.hpp"

namespace ds::cluster::wire {

// ---- names in Redis ---------------------------------------------------------------------------
inline constexpr std::string_view kReadyKey = "ds:ready";          // zset: streams by waiting time
inline constexpr std::string_view kReadyChannel = "ds:ready";      // pub/sub: a stream joined it
inline constexpr std::string_view kAllChannel = "ds:all";          // pub/sub: broadcasts
inline constexpr std::string_view kStreamsKey = "ds:streams";      // hash: username → announced
inline constexpr std::string_view kFramePrefix = "ds:f:";          // + session: the waiting frame
inline constexpr std::string_view kNodePrefix = "ds:node:";        // + node: heartbeat
inline constexpr std::string_view kNodeChannelPrefix = "ds:n:";    // + node: calls, replies
inline constexpr std::string_view kStreamChannelPrefix = "ds:c:";  // + username: results, events
inline constexpr std::string_view kViewersPrefix = "ds:v:";        // + username: viewers per node
inline constexpr std::string_view kLeasePrefix = "ds:lease:";      // + name
// + session: the node whose worker holds a claimed job of the stream waiting (not started)
inline constexpr std::string_view kHeldPrefix = "ds:held:";
inline constexpr std::string_view kWorkersTotalKey = "ds:w:total";
inline constexpr std::string_view kWorkersBusyKey = "ds:w:busy";
// The seal's context for a waiting frame (it is stored, not published on a channel).
inline constexpr std::string_view kFrameContext = "ds:f";

std::string frame_key(long long session_id);
std::string node_key(const std::string& node);
std::string node_channel(const std::string& node);
std::string stream_channel(const std::string& username);
std::string viewers_key(const std::string& username);
std::string lease_key(const std::string& name);
std::string held_key(long long session_id);
// The username of a stream channel; nullopt for any other channel.
std::optional<std::string> stream_of_channel(std::string_view channel);

// ---- a frame waiting in the shared line (stored under frame_key, sealed) -----------------------
std::string encode_offer(const live::FrameOffer& frame);
std::optional<live::FrameOffer> parse_offer(std::string_view payload);

// ---- a stream's channel: what its followers hear ----------------------------------------------
// A viewer event (state, viewers, styles, chat, …) as its JSON text.
struct TextMessage {
  std::string from;  // the node that published it
  std::string text;
};
// A processed frame (username comes from the channel).
struct ResultMessage {
  std::string from;
  live::FrameResult result;
};
using ChannelMessage = std::variant<TextMessage, ResultMessage>;
std::string encode(const TextMessage& m);
std::string encode(const ResultMessage& m);
std::optional<ChannelMessage> parse_channel_message(std::string_view payload,
                                                    const std::string& username);

// ---- a node's own channel: calls and their replies, and broadcasts to every node --------------
struct CallMessage {
  std::uint64_t id = 0;
  std::string from;              // where the reply goes
  std::int64_t deadline_ms = 0;  // the caller has given up after this: never run it later
  live::Call call;
};
struct ReplyMessage {
  std::uint64_t id = 0;
  live::Call reply;
};
struct BroadcastMessage {
  std::string from;
  live::Call message;
};
// From a stream's home to the node whose worker holds a job of it waiting (ds:held:<session>
// named that node when the home offered frame seq): a job of the stream older than seq that
// still waits there is superseded (docs/protocol.md, "Slots"; docs/architecture.md, "Many
// nodes"). One way, no reply.
struct SupersedeMessage {
  std::string from;
  long long session_id = 0;
  std::uint64_t seq = 0;
};
using NodeMessage = std::variant<CallMessage, ReplyMessage, SupersedeMessage>;
std::string encode(const CallMessage& m);
std::string encode(const ReplyMessage& m);
std::string encode(const SupersedeMessage& m);
std::string encode(const BroadcastMessage& m);
std::optional<NodeMessage> parse_node_message(std::string_view payload);
std::optional<BroadcastMessage> parse_broadcast(std::string_view payload);

// ---- the registry of homes (plain JSON: the Lua scripts read "node" and "ms") ------------------
nlohmann::json announced_json(const std::string& node, std::int64_t now_ms,
                              const live::StreamSnapshot& stream);
std::optional<live::AnnouncedStream> parse_announced(std::string_view text);

}  // namespace ds::cluster::wire
