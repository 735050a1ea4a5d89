// A live::Cluster that records what the hub and the services ask of the other nodes, and lets a
// test answer claims and calls and play the events other nodes would cause.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "live/cluster.hpp"

namespace ds::test {

struct FakeCluster : live::Cluster {
  std::string id = "here";
  bool up = true;
  live::ClusterEvents events;
  std::vector<live::FrameOffer> offers;
  std::vector<long long> withdrawn;
  std::deque<std::function<void(std::optional<live::FrameOffer>)>> claims;
  std::vector<std::string> follows;
  std::vector<std::string> unfollows;
  std::vector<live::FrameResult> results;
  std::vector<std::pair<std::string, std::string>> texts;
  std::vector<live::StreamSnapshot> announced;
  std::vector<std::pair<std::string, long long>> forgotten;
  std::vector<std::map<std::string, int>> reports;
  std::map<std::string, live::AnnouncedStream> registry;  // what find() answers

  const std::string& node_id() const override { return id; }
  bool healthy() const override { return up; }
  void listen(live::ClusterEvents e) override { events = std::move(e); }
  // Redis takes each offer at once unless a test holds them.
  void offer(const live::FrameOffer& frame, std::function<void()> done) override {
    offers.push_back(frame);
    if (hold_offers) {
      held.push_back(std::move(done));
    } else if (done) {
      done();
    }
  }
  bool hold_offers = false;
  std::vector<std::function<void()>> held;
  void withdraw(long long session_id) override { withdrawn.push_back(session_id); }
  void claim(std::function<void(std::optional<live::FrameOffer>)> handler) override {
    claims.push_back(std::move(handler));
  }
  // How many frames the last batch claim asked for; answered like a claim (one frame at most).
  int last_claim_max = 0;
  void claim_batch(int max, std::function<void(std::vector<live::FrameOffer>)> handler) override {
    last_claim_max = max;
    live::Cluster::claim_batch(max, std::move(handler));
  }
  // Every claim as the pool asked it (first stream, mark), answered like a batch claim.
  std::vector<live::ClaimAsk> asks;
  void claim_for(const live::ClaimAsk& ask,
                 std::function<void(std::vector<live::FrameOffer>)> handler) override {
    asks.push_back(ask);
    claim_batch(ask.max, std::move(handler));
  }
  void follow(const std::string& username) override { follows.push_back(username); }
  void unfollow(const std::string& username) override { unfollows.push_back(username); }
  void publish_result(const live::FrameResult& result) override { results.push_back(result); }
  void publish_text(const std::string& username, const live::Bytes& text) override {
    texts.emplace_back(username, *text);
  }
  void announce(const live::StreamSnapshot& stream) override { announced.push_back(stream); }
  void forget(const std::string& username, long long session_id) override {
    forgotten.emplace_back(username, session_id);
  }
  int finds = 0;
  std::optional<live::AnnouncedStream> find(const std::string& username) override {
    finds++;
    auto it = registry.find(username);
    if (it == registry.end()) return std::nullopt;
    return it->second;
  }
  std::optional<std::vector<live::AnnouncedStream>> streams() override {
    std::vector<live::AnnouncedStream> out;
    for (const auto& [name, a] : registry) out.push_back(a);
    return out;
  }
  bool node_alive(const std::string&) override { return true; }
  std::vector<live::AnnouncedStream> orphans() override { return {}; }
  bool lease(const std::string&, std::chrono::milliseconds) override { return true; }
  void report_viewers(const std::map<std::string, int>& local) override {
    reports.push_back(local);
  }
  void report_workers(int total, int busy) override { worker_reports.emplace_back(total, busy); }
  std::vector<std::pair<int, int>> worker_reports;
  void tick() override {}
  void serve_calls(std::function<live::Call(const live::Call&)>) override {}
  // What a call to another node answers (none: it does not answer).
  std::function<std::optional<live::Call>(const std::string& node, const live::Call&)> on_call;
  std::optional<live::Call> call(const std::string& node, const live::Call& request,
                                 std::chrono::milliseconds) override {
    return on_call ? on_call(node, request) : std::nullopt;
  }
  std::vector<live::Call> broadcasts;
  void broadcast(const live::Call& message) override { broadcasts.push_back(message); }

  // Answers the oldest outstanding claim.
  void answer(std::optional<live::FrameOffer> frame) {
    ASSERT_FALSE(claims.empty());
    auto handler = std::move(claims.front());
    claims.pop_front();
    handler(std::move(frame));
  }
  // A stream homed on another node, as find() reports it.
  void home_elsewhere(const std::string& username, long long session_id,
                      live::StreamState state = live::StreamState::kLive) {
    live::AnnouncedStream a;
    a.node = "there";
    a.snapshot.session_id = session_id;
    a.snapshot.username = username;
    a.snapshot.state = state;
    registry[username] = a;
  }
  bool published(const std::string& username, const std::string& text) const {
    return std::find(texts.begin(), texts.end(), std::make_pair(username, text)) != texts.end();
  }
};

}  // namespace ds::test
