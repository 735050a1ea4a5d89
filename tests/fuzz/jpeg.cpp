// Fuzzes the structural JPEG check every incoming frame goes through (ds::domain::validate_jpeg).
//
// Input: byte 0 picks the limits, the rest is the frame.
#include "domain/jpeg.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "check.hpp"

namespace {

std::uint8_t byte(std::string_view s, std::size_t i) { return static_cast<std::uint8_t>(s[i]); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  ds::domain::JpegLimits limits;  // the server's defaults
  switch (data[0] & 3) {
    case 1:
      limits = {512, 64};
      break;
    case 2:
      limits = {4096, 1};
      break;
    case 3:
      limits = {64 * 1024, 65535};
      break;
    default:
      break;
  }
  std::string_view frame(reinterpret_cast<const char*>(data) + 1, size - 1);

  auto info = ds::domain::validate_jpeg(frame, limits);
  if (!info) {
    const auto& e = info.error();
    DS_FUZZ_CHECK((e.kind == ds::ErrorKind::kTooLarge) == (frame.size() > limits.max_bytes), "");
    DS_FUZZ_CHECK(e.kind == ds::ErrorKind::kTooLarge
                      ? e.code == "too_large"
                      : (e.kind == ds::ErrorKind::kInvalid && e.code == "bad_frame"),
                  "");
  } else {
    // Accepted: within the limits, starts with SOI and (before any zero padding) ends with EOI.
    DS_FUZZ_CHECK(frame.size() <= limits.max_bytes, "");
    DS_FUZZ_CHECK(info->width >= 1 && info->width <= limits.max_dimension, "");
    DS_FUZZ_CHECK(info->height >= 1 && info->height <= limits.max_dimension, "");
    DS_FUZZ_CHECK(byte(frame, 0) == 0xFF && byte(frame, 1) == 0xD8, "");
    std::size_t end = frame.find_last_not_of('\0');
    DS_FUZZ_CHECK(end != std::string_view::npos && end >= 3, "");
    DS_FUZZ_CHECK(byte(frame, end - 1) == 0xFF && byte(frame, end) == 0xD9, "");
  }

  // Trailing zero padding is tolerated: it never changes the verdict on a frame of 4+ bytes.
  if (frame.size() >= 4 && frame.size() + 2 <= limits.max_bytes) {
    std::string padded(frame);
    padded.append(2, '\0');
    auto again = ds::domain::validate_jpeg(padded, limits);
    DS_FUZZ_CHECK(again.ok() == info.ok(), "");
    if (info) DS_FUZZ_CHECK(again->width == info->width && again->height == info->height, "");
  }
  return 0;
}
