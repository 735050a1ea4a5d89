// What moves between nodes when several `serve` nodes share one PostgreSQL and one Redis
// (docs/architecture.md, "Many nodes"): frames offered to the shared worker pool, processed
// frames and channel events for viewers on other nodes, the registry of which node is each
// stream's home, global viewer counts, and calls from one node to another. The hub and the
// live services see only this interface; cluster/redis_bus implements it over Redis. Without
// one (nullptr) the node is alone and everything stays in process, as before.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "live/hub.hpp"

namespace ds::live {

// FrameOffer (the newest camera frame of a stream, offered by its home to every node's idle
// workers) is in live/frame_offer.hpp: the worker pool's own dispatch uses it too.

// A processed frame, on its way from the worker's node to every node with viewers of it.
struct FrameResult {
  long long session_id = 0;
  std::string username;
  std::uint64_t seq = 0;
  std::int64_t captured_ms = 0;
  std::int64_t processed_ms = 0;
  double model_ms = 0;
  nlohmann::json timings;
  Bytes jpeg;
};

// A stream homed on some node, as its home last announced it.
struct AnnouncedStream {
  std::string node;
  std::int64_t updated_ms = 0;
  StreamSnapshot snapshot;
};

// What the hub hears from other nodes; each runs on a cluster thread and must not block.
struct ClusterEvents {
  std::function<void()> frames_ready;  // a stream joined the line of waiting frames
  std::function<void(const FrameResult&)> result;
  std::function<void(const std::string& username, const Bytes& text)> text;
  // Viewers of username on every node, as summed after this node's last report.
  std::function<void(const std::string& username, int viewers)> viewers;
  // Redis is reachable again (it may have restarted empty): announce what is homed here now.
  std::function<void()> reconnected;
  // The shared worker pool on every node, as summed after this node's last report.
  std::function<void(int total, int busy)> workers;
  // A stream's home offered frame seq while a job of the stream, claimed for a worker here,
  // was marked waiting at it (ClaimAsk::mark_ms): an older job of it still waiting there is
  // superseded (WorkerPool::superseded_from_line).
  std::function<void(long long session_id, std::uint64_t seq)> supersede;
};

// What a worker asks of the shared line.
struct ClaimAsk {
  int max = 1;               // up to max frames of different streams, longest waiting first
  long long first = 0;       // this stream's frame before any other, if it is in the line
  std::int64_t mark_ms = 0;  // > 0: they will wait at the worker (it holds a message): mark
                             // each stream held by this node for this long, so that the
                             // home's next offer of it supersedes the waiting job
};

// A call from one node to another: a JSON header and an opaque body, both ways.
struct Call {
  nlohmann::json header;
  std::string body;
};

// What a call (or a broadcast) asks of the node it reaches, named in its header's "op";
// dispatched in one place (cli/serve). kHttp: a forwarded request (api/forward); kRevoke: end
// the sockets of a withdrawn credential; kRelease: let go of a stream that moves here;
// kStylesState: the style queue of a stream homed there.
enum class CallOp { kHttp, kRevoke, kRelease, kStylesState };

inline constexpr std::pair<CallOp, std::string_view> kCallOpNames[] = {
    {CallOp::kHttp, "http"},
    {CallOp::kRevoke, "revoke"},
    {CallOp::kRelease, "release"},
    {CallOp::kStylesState, "styles_state"}};

// A call of op with fields (a JSON object) in its header.
inline Call make_call(CallOp op, nlohmann::json fields = nlohmann::json::object(),
                      std::string body = {}) {
  for (const auto& [o, name] : kCallOpNames) {
    if (o == op) fields["op"] = name;
  }
  return {std::move(fields), std::move(body)};
}

// nullopt: no op, or one this node does not know.
inline std::optional<CallOp> call_op(const Call& c) {
  auto it = c.header.find("op");
  if (it == c.header.end() || !it->is_string()) return std::nullopt;
  const auto& name = it->get_ref<const std::string&>();
  for (const auto& [o, n] : kCallOpNames) {
    if (n == name) return o;
  }
  return std::nullopt;
}

// Traffic to and from Redis since the node started (for /metrics and the benchmarks).
struct ClusterStats {
  std::uint64_t commands = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t messages = 0;
  std::uint64_t bytes_received = 0;
  // Node messages dropped (cluster/seal): not sealed with this cluster's key for where they
  // were found, too old, or seen before; and calls that arrived or waited past their deadline.
  std::uint64_t dropped_forged = 0;
  std::uint64_t dropped_stale = 0;
  std::uint64_t dropped_replayed = 0;
  std::uint64_t calls_expired = 0;
};

class Cluster {
 public:
  virtual ~Cluster() = default;
  virtual ClusterStats stats() const { return {}; }
  virtual const std::string& node_id() const = 0;
  // Redis reachable: frames go through the shared line; otherwise each node works alone.
  virtual bool healthy() const = 0;
  virtual void listen(ClusterEvents events) = 0;

  // The shared line of waiting frames: one per stream (newest wins), streams in order of
  // waiting time. offer's done runs once Redis has it (or failed to); the hub keeps one offer
  // per stream in flight, so a flooding streamer cannot queue frames here. claim's handler
  // gets the longest-waiting stream's frame, or nullopt (none, or Redis away). Both may run
  // at once, on the caller's thread.
  virtual void offer(const FrameOffer& frame, std::function<void()> done) = 0;
  virtual void withdraw(long long session_id) = 0;
  virtual void claim(std::function<void(std::optional<FrameOffer>)> handler) = 0;
  // Up to max frames of different streams, longest waiting first (a batch for one worker);
  // empty: none, or Redis away. By default one claim.
  virtual void claim_batch(int max, std::function<void(std::vector<FrameOffer>)> handler) {
    (void)max;
    claim([handler = std::move(handler)](std::optional<FrameOffer> f) {
      std::vector<FrameOffer> out;
      if (f) out.push_back(std::move(*f));
      handler(std::move(out));
    });
  }

  // A claim as the worker pool asks it; by default a plain batch claim (no first stream, no
  // mark: a job claimed through it is never superseded from the line).
  virtual void claim_for(const ClaimAsk& ask,
                         std::function<void(std::vector<FrameOffer>)> handler) {
    claim_batch(ask.max, std::move(handler));
  }

  // Channels: events of one stream for every node that follows it (a home follows its own
  // streams, a node follows the streams its viewers watch). Never delivered back to the sender.
  virtual void follow(const std::string& username) = 0;
  virtual void unfollow(const std::string& username) = 0;
  virtual void publish_result(const FrameResult& result) = 0;
  virtual void publish_text(const std::string& username, const Bytes& text) = 0;

  // The registry of homes. announce/forget do not wait; find and streams wait briefly.
  virtual void announce(const StreamSnapshot& stream) = 0;
  virtual void forget(const std::string& username, long long session_id) = 0;
  virtual std::optional<AnnouncedStream> find(const std::string& username) = 0;
  // nullopt: Redis did not answer (not the same as "none").
  virtual std::optional<std::vector<AnnouncedStream>> streams() = 0;
  virtual bool node_alive(const std::string& node) = 0;
  // Streams whose home stopped beating, each taken out of the registry and handed to exactly
  // one caller across the cluster, which ends it.
  virtual std::vector<AnnouncedStream> orphans() = 0;
  // A lease on a piece of work (e.g. ending one stream) for this node: false when another
  // node holds it, or Redis is away.
  virtual bool lease(const std::string& name, std::chrono::milliseconds ttl) = 0;

  // Viewers on this node per stream; the sums come back through ClusterEvents::viewers.
  virtual void report_viewers(const std::map<std::string, int>& local) = 0;
  // This node's workers; the pool's sums come back through ClusterEvents::workers.
  virtual void report_workers(int total, int busy) = 0;
  // Heartbeat and housekeeping; the hub calls it from its tick.
  virtual void tick() = 0;

  // Calls between nodes. The handler runs off the cluster's threads and may block.
  virtual void serve_calls(std::function<Call(const Call&)> handler) = 0;
  virtual std::optional<Call> call(const std::string& node, const Call& request,
                                   std::chrono::milliseconds timeout) = 0;
  // The answer to a call, given once by whoever has it, on any thread.
  using Respond = std::function<void(Call)>;
  // serve_calls for a handler that may answer later (a blocking HLS reload at a stream's home):
  // it calls respond once, at once or when it has the answer (never: the caller times out).
  // Replaces serve_calls' handler. By default such calls go unanswered.
  virtual void serve_calls_async(std::function<void(const Call&, Respond)> handler) {
    (void)handler;
  }
  // A call nothing waits on: done runs once, on any thread, with the answer or with nullopt
  // when none came within timeout (or Redis is away). By default the blocking call, here.
  virtual void call_async(const std::string& node, const Call& request,
                          std::chrono::milliseconds timeout,
                          std::function<void(std::optional<Call>)> done) {
    done(call(node, request, timeout));
  }
  // A one-way message to every other node, each of which runs it through its call handler
  // (the reply goes nowhere). For what every node must hear even when no registry says which
  // node it concerns, e.g. a revoked credential. Does not wait.
  virtual void broadcast(const Call& message) = 0;
};

}  // namespace ds::live
