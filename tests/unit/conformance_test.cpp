// The cross-language vectors of tests/vectors/ (the Python, JS SDK and web page tests read the
// same files), so the implementations of one wire rule cannot drift apart.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "live/protocol.hpp"
#include "worker/job_queue.hpp"

using namespace ds;

namespace {

nlohmann::json vectors(const std::string& name) {
  auto path = std::filesystem::path(DS_SOURCE_DIR) / "tests" / "vectors" / name;
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  return nlohmann::json::parse(in);
}

std::string from_hex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

std::string to_hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

}  // namespace

TEST(Conformance, InlineFramesSplitAsTheVectorsSay) {
  auto doc = vectors("inline_frames.json");
  ASSERT_GE(doc["cases"].size(), 8u);
  for (const auto& c : doc["cases"]) {
    std::string name = c["name"];
    auto message = from_hex(c["message_hex"]);
    auto split = live::wire::split_inline_frame(message);
    if (c["expect"].is_null()) {
      EXPECT_FALSE(split) << name;
      continue;
    }
    ASSERT_TRUE(split) << name;
    EXPECT_EQ(split->meta, c["expect"]["meta"].get<std::string>()) << name;
    EXPECT_EQ(to_hex(split->jpeg), c["expect"]["jpeg_hex"].get<std::string>()) << name;
    // What the server writes in front of a header of that size reads back the same.
    auto prefix = live::wire::inline_frame_prefix(split->meta.size());
    EXPECT_EQ(std::string(prefix.begin(), prefix.end()), message.substr(0, 4)) << name;
  }
}

namespace {

std::string arrival_name(worker::JobQueue::Arrival::Kind k) {
  using K = worker::JobQueue::Arrival::Kind;
  switch (k) {
    case K::kUnexpected:
      return "unexpected";
    case K::kPartial:
      return "partial";
    case K::kQueued:
      return "queued";
    case K::kRefused:
      return "refused";
    case K::kCancelled:
      return "cancelled";
  }
  return "?";
}

std::vector<std::string> ids_of(const std::vector<worker::JobQueue::Item>& items) {
  std::vector<std::string> out;
  for (const auto& i : items) out.push_back(i.header.job_id.get<std::string>());
  return out;
}

}  // namespace

TEST(Conformance, TheWorkerHoldsJobsAsTheVectorsSay) {
  auto doc = vectors("job_holding.json");
  ASSERT_GE(doc["cases"].size(), 8u);
  for (const auto& c : doc["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    worker::JobQueue held(c["slots"].get<int>());
    int step = 0;
    for (const auto& s : c["steps"]) {
      SCOPED_TRACE("step " + std::to_string(step++) + ": " + s.dump());
      auto op = s["op"].get<std::string>();
      if (op == "header") {
        std::vector<live::wire::JobHeader> jobs;
        for (const auto& id : s["jobs"]) jobs.push_back(live::wire::JobHeader{id, "alice", 1, {}});
        std::vector<std::string> lost;
        for (const auto& h : held.on_header(std::move(jobs))) lost.push_back(h.job_id);
        EXPECT_EQ(lost, s["expect_lost"].get<std::vector<std::string>>());
      } else if (op == "binary") {
        auto arrival = held.on_binary("\xFF\xD8 jpeg");
        EXPECT_EQ(arrival_name(arrival.kind), s["expect"].get<std::string>());
        EXPECT_EQ(ids_of(arrival.refused),
                  s.value("refused", nlohmann::json::array()).get<std::vector<std::string>>());
      } else if (op == "cancel") {
        EXPECT_EQ(held.cancel(s["job"]), s["expect"].get<bool>());
      } else if (op == "start") {
        auto message = held.start_next();
        if (s["expect"].is_null()) {
          EXPECT_FALSE(message.has_value());
        } else {
          ASSERT_TRUE(message.has_value());
          EXPECT_EQ(ids_of(*message), s["expect"].get<std::vector<std::string>>());
        }
      } else if (op == "finish") {
        held.finish();
      } else {
        ADD_FAILURE() << "unknown op " << op;
      }
    }
  }
}
