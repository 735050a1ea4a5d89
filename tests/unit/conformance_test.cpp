// The cross-language vectors of tests/vectors/ (the Python, JS SDK and web page tests read the
// same files), so the implementations of one wire rule cannot drift apart.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "live/protocol.hpp"

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
