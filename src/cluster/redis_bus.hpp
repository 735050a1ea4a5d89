// live::Cluster over Redis (docs/architecture.md, "Many nodes"): the shared line of waiting
// frames is a sorted set of streams by waiting time plus one key per stream that each push
// overwrites; channels and calls are pub/sub; the registry of homes, node heartbeats and viewer
// counts are keys with expiry. Redis holds nothing that must last: after a restart the homes
// announce themselves again within a second.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>

#include "cluster/node_wire.hpp"
#include "cluster/redis_link.hpp"
#include "cluster/seal.hpp"
#include "live/cluster.hpp"
#include "util/clock.hpp"

namespace ds::cluster {

struct RedisBusConfig {
  RedisAddress address;
  std::string node_id;
  // Keys the seal on every message (cluster/seal.hpp); the same on every node, required.
  std::string secret;
  // A node that has not beaten for this long is dead; its streams are orphans.
  std::int64_t node_ttl_ms = 5'000;
  std::int64_t heartbeat_ms = 500;
  // A waiting frame no worker took within this long is dropped by Redis.
  std::int64_t frame_ttl_ms = 10'000;
  // Runs call handlers off the subscriber's thread (serve: its blocking pool).
  std::function<void(std::function<void()>)> executor;
};

class RedisBus : public live::Cluster {
 public:
  RedisBus(RedisBusConfig config, const Clock& clock);
  ~RedisBus() override;

  // Connects (in the background) and starts the threads; stop() before the hub goes.
  void start();
  void stop();
  RedisLink& link() { return *link_; }

  const std::string& node_id() const override { return config_.node_id; }
  bool healthy() const override;
  void listen(live::ClusterEvents events) override;

  void offer(const live::FrameOffer& frame, std::function<void()> done) override;
  void withdraw(long long session_id) override;
  void claim(std::function<void(std::optional<live::FrameOffer>)> handler) override;
  void claim_batch(int max, std::function<void(std::vector<live::FrameOffer>)> handler) override;
  void claim_for(const live::ClaimAsk& ask,
                 std::function<void(std::vector<live::FrameOffer>)> handler) override;

  void follow(const std::string& username) override;
  void unfollow(const std::string& username) override;
  void publish_result(const live::FrameResult& result) override;
  void publish_text(const std::string& username, const live::Bytes& text) override;

  void announce(const live::StreamSnapshot& stream) override;
  void forget(const std::string& username, long long session_id) override;
  std::optional<live::AnnouncedStream> find(const std::string& username) override;
  std::optional<std::vector<live::AnnouncedStream>> streams() override;
  bool node_alive(const std::string& node) override;
  std::vector<live::AnnouncedStream> orphans() override;
  bool lease(const std::string& name, std::chrono::milliseconds ttl) override;

  void report_viewers(const std::map<std::string, int>& local) override;
  void report_workers(int total, int busy) override;
  void tick() override;

  void serve_calls(std::function<live::Call(const live::Call&)> handler) override;
  void serve_calls_async(std::function<void(const live::Call&, Respond)> handler) override;
  void call_async(const std::string& node, const live::Call& request,
                  std::chrono::milliseconds timeout,
                  std::function<void(std::optional<live::Call>)> done) override;
  std::optional<live::Call> call(const std::string& node, const live::Call& request,
                                 std::chrono::milliseconds timeout) override;
  void broadcast(const live::Call& message) override;

  live::ClusterStats stats() const override;

  // What the subscriber hands over: opened, checked and acted on, or dropped and counted.
  // Public for the fuzz target (tests/fuzz/node_message.cpp).
  void receive(std::string_view channel, std::string_view payload);

 private:
  void publish(const std::string& channel, std::string_view payload);
  std::optional<live::FrameOffer> open_offer(std::string_view stored);
  // The home's offer of seq found a job of the stream marked waiting at node's worker.
  void supersede_at(const std::string& node, long long session_id, std::uint64_t seq);
  void on_call(wire::CallMessage m, const std::string& sender);
  void on_reply(wire::ReplyMessage r);
  void on_broadcast(wire::BroadcastMessage b, const std::string& sender);

  RedisBusConfig config_;
  const Clock& clock_;
  Seal seal_;  // after config_ and clock_: built from them
  std::unique_ptr<RedisLink> link_;
  std::unique_ptr<RedisSubscriber> subscriber_;
  live::ClusterEvents events_;
  std::function<void(const live::Call&, Respond)> call_handler_;
  // False once stopped: an answer given later (an async handler's) is dropped then.
  std::shared_ptr<std::atomic<bool>> serving_ = std::make_shared<std::atomic<bool>>(true);
  std::int64_t last_beat_ms_ = 0;
  std::atomic<int> pool_total_{0};  // the first half of a report_workers answer

  std::mutex reported_mutex_;
  std::set<std::string> reported_;  // streams this node last reported viewers of

  struct Pending {
    std::mutex mutex;
    std::condition_variable cv;
    std::optional<live::Call> reply;
    // call_async: run with the reply, or with nullopt by tick() past deadline_ms.
    std::function<void(std::optional<live::Call>)> done;
    std::int64_t deadline_ms = 0;
  };
  // Async calls past their deadline: taken out and answered nullopt.
  void expire_calls();
  std::mutex calls_mutex_;
  std::unordered_map<std::uint64_t, std::shared_ptr<Pending>> calls_;
  std::atomic<std::uint64_t> next_call_{1};
  std::atomic<std::uint64_t> expired_calls_{0};
};

}  // namespace ds::cluster
