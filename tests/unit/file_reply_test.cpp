#include "api/file_reply.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "test_support.hpp"

using namespace ds;
using api::RangeAsk;

namespace {

api::RangeAnswer ask(const char* header, std::uint64_t size = 1000) {
  return api::parse_byte_range(header ? std::optional<std::string_view>(header) : std::nullopt,
                               size);
}

}  // namespace

TEST(ByteRange, OneRangeInItsThreeForms) {
  auto a = ask("bytes=0-99");
  ASSERT_EQ(a.ask, RangeAsk::kPart);
  EXPECT_EQ(a.range.first, 0u);
  EXPECT_EQ(a.range.last, 99u);
  a = ask("bytes=900-");
  ASSERT_EQ(a.ask, RangeAsk::kPart);
  EXPECT_EQ(a.range.first, 900u);
  EXPECT_EQ(a.range.last, 999u);
  a = ask("bytes=-100");
  ASSERT_EQ(a.ask, RangeAsk::kPart);
  EXPECT_EQ(a.range.first, 900u);
  EXPECT_EQ(a.range.last, 999u);
  a = ask("Bytes=10-19");  // the unit is case-insensitive
  ASSERT_EQ(a.ask, RangeAsk::kPart);
  EXPECT_EQ(a.range.first, 10u);
  EXPECT_EQ(a.range.last, 19u);
}

TEST(ByteRange, ClippedToTheFile) {
  auto a = ask("bytes=500-5000");
  ASSERT_EQ(a.ask, RangeAsk::kPart);
  EXPECT_EQ(a.range.last, 999u);
  a = ask("bytes=-5000");  // more than the file: all of it, as a range
  ASSERT_EQ(a.ask, RangeAsk::kPart);
  EXPECT_EQ(a.range.first, 0u);
  EXPECT_EQ(a.range.last, 999u);
}

TEST(ByteRange, PastTheEndIsUnsatisfiable) {
  EXPECT_EQ(ask("bytes=1000-").ask, RangeAsk::kUnsatisfiable);
  EXPECT_EQ(ask("bytes=5000-6000").ask, RangeAsk::kUnsatisfiable);
  EXPECT_EQ(ask("bytes=-0").ask, RangeAsk::kUnsatisfiable);
  EXPECT_EQ(ask("bytes=0-", 0).ask, RangeAsk::kUnsatisfiable);
}

TEST(ByteRange, AnythingElseIsTheWholeFile) {
  for (const char* h : {"", "bytes", "bytes=", "bytes=-", "bytes=a-b", "bytes=5-1", "bytes=0-1,5-9",
                        "items=0-9", "bytes=99999999999999999999-", "bytes=+1-2", "bytes=1-2-3"}) {
    EXPECT_EQ(ask(h).ask, RangeAsk::kWhole) << h;
  }
  EXPECT_EQ(ask(nullptr).ask, RangeAsk::kWhole);
}

TEST(FileResponse, AnswersWithASpanOfTheFileNotItsBytes) {
  test::TempDir dir;
  auto path = dir.path() / "f.bin";
  std::ofstream(path, std::ios::binary) << std::string(1000, 'x');
  api::Request req;
  auto whole = api::file_response(req, path, "video/mp4");
  EXPECT_EQ(whole.status, 200);
  ASSERT_TRUE(whole.file);
  EXPECT_EQ(whole.file->offset, 0u);
  EXPECT_EQ(whole.file->length, 1000u);
  EXPECT_TRUE(whole.body.empty());
  EXPECT_TRUE(whole.has_header("Accept-Ranges"));

  req.headers.emplace_back("range", "bytes=100-199");
  auto part = api::file_response(req, path, "video/mp4");
  EXPECT_EQ(part.status, 206);
  ASSERT_TRUE(part.file);
  EXPECT_EQ(part.file->offset, 100u);
  EXPECT_EQ(part.file->length, 100u);
  EXPECT_EQ(part.header("content-range"), "bytes 100-199/1000");

  req.headers.back().second = "bytes=1000-";
  auto past = api::file_response(req, path, "video/mp4");
  EXPECT_EQ(past.status, 416);
  EXPECT_FALSE(past.file);

  EXPECT_EQ(api::file_response(req, dir.path() / "missing", "video/mp4").status, 404);
}
