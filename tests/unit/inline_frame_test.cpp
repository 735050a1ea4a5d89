// Inline viewer frames (docs/protocol.md, "Inline frames"): the 4-byte length prefix and the
// split a reader does.
#include <gtest/gtest.h>

#include <string>

#include "live/protocol.hpp"

namespace ds::live::wire {
namespace {

std::string message(const std::string& meta, const std::string& jpeg) {
  auto prefix = inline_frame_prefix(meta.size());
  return std::string(prefix.begin(), prefix.end()) + meta + jpeg;
}

TEST(InlineFrame, PrefixIsTheHeaderLengthBigEndian) {
  auto p = inline_frame_prefix(0x01020304);
  EXPECT_EQ(p[0], 1);
  EXPECT_EQ(p[1], 2);
  EXPECT_EQ(p[2], 3);
  EXPECT_EQ(p[3], 4);
  auto small = inline_frame_prefix(70);
  EXPECT_EQ(small[0], 0);  // never 0xFF, the first byte of a JPEG
  EXPECT_EQ(small[3], 70);
}

TEST(InlineFrame, SplitsBackIntoTheHeaderAndTheJpeg) {
  auto meta = encode_frame_header({42, 1000, 1050, {}});
  std::string jpeg = "\xFF\xD8 jpeg bytes \xFF\xD9";
  auto msg = message(*meta, jpeg);  // the views below point into it
  auto f = split_inline_frame(msg);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->meta, *meta);
  EXPECT_EQ(f->jpeg, jpeg);
  EXPECT_EQ(nlohmann::json::parse(f->meta)["seq"], 42);
}

TEST(InlineFrame, RefusesAMessageShorterThanItsPrefixSays) {
  EXPECT_FALSE(split_inline_frame(""));
  EXPECT_FALSE(split_inline_frame(std::string("\0\0\0", 3)));
  EXPECT_FALSE(split_inline_frame(std::string("\0\0\0\x09{}", 6)));
  EXPECT_FALSE(split_inline_frame("\xFF\xD8\xFF\xE0 a bare JPEG"));
  auto bare = message("", "J");
  auto empty = split_inline_frame(bare);
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->meta, "");
  EXPECT_EQ(empty->jpeg, "J");
}

}  // namespace
}  // namespace ds::live::wire
