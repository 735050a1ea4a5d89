// A live::Peer that records what the hub or an endpoint sends; stands in for a socket in the
// hub and endpoint tests.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "live/peer.hpp"

namespace ds::test {

struct FakePeer : live::Peer {
  std::vector<std::string> texts;
  std::vector<std::pair<std::string, std::string>> frames;  // meta, jpeg
  // Every ordered message with other than one binary (cancels, batches): text, binaries.
  std::vector<std::pair<std::string, std::vector<std::string>>> ordered;
  int close_code = 0;
  void send_text(live::Bytes t) override { texts.push_back(*t); }
  void send_frame(live::Bytes meta, live::Bytes jpeg, bool) override {
    frames.emplace_back(meta ? *meta : "", *jpeg);
  }
  void send_ordered(live::Bytes text, std::vector<live::Bytes> binaries) override {
    if (binaries.size() == 1) return send_frame(std::move(text), std::move(binaries[0]), false);
    std::vector<std::string> out;
    for (auto& b : binaries) out.push_back(*b);
    ordered.emplace_back(text ? *text : "", std::move(out));
  }
  void close(int code, std::string) override { close_code = code; }
  nlohmann::json last_text() const { return nlohmann::json::parse(texts.back()); }
  nlohmann::json last_job() const { return nlohmann::json::parse(frames.back().first); }
};

}  // namespace ds::test
