// Answers with a file from disk, whole or one byte range of it (RFC 9110 section 14), without
// reading it into memory: the transport streams it from disk as it writes (Response::file).
// For large files such as a recording's MP4; small ones stay in Response::body.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "api/http.hpp"

namespace ds::api {

// What a Range header asks of a file of `size` bytes.
struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // inclusive
};
enum class RangeAsk {
  kWhole,          // no Range, or one this server ignores (another unit, several ranges)
  kPart,           // one satisfiable range
  kUnsatisfiable,  // one range, wholly past the end (416)
};
struct RangeAnswer {
  RangeAsk ask = RangeAsk::kWhole;
  ByteRange range;  // kPart: clipped to the file
};
// "bytes=a-b", "bytes=a-", "bytes=-n" (the last n bytes). Malformed or multi-range values are
// answered with the whole file, as RFC 9110 allows a server to.
RangeAnswer parse_byte_range(std::optional<std::string_view> header, std::uint64_t size);

// 200 with the whole file, 206 with the range the request asked for, 416 when that is past the
// end, 404 when the file cannot be read. Says Accept-Ranges: bytes. Headers such as
// Cache-Control are the caller's.
Response file_response(const Request& req, const std::filesystem::path& path,
                       std::string content_type);

}  // namespace ds::api
