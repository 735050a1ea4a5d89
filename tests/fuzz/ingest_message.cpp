// Fuzzes one message on a streamer's ingest socket (ds::live::wire::check_ingest_message):
// text messages are refused, binary ones pass only as a plausible JPEG within the limits.
//
// Input: byte 0 says text or binary and picks the limits, the rest is the message.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "check.hpp"
#include "live/protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  bool binary = data[0] & 1;
  ds::domain::JpegLimits limits;        // the server's defaults
  if (data[0] & 2) limits = {256, 16};  // small limits, so the fuzzer reaches them
  std::string_view message(reinterpret_cast<const char*>(data) + 1, size - 1);

  auto checked = ds::live::wire::check_ingest_message(binary, message, limits);
  if (!binary) {
    DS_FUZZ_CHECK(!checked, "");
    DS_FUZZ_CHECK(
        checked.error().kind == ds::ErrorKind::kInvalid && checked.error().code == "bad_frame", "");
    return 0;
  }
  auto direct = ds::domain::validate_jpeg(message, limits);
  DS_FUZZ_CHECK(checked.ok() == direct.ok(), "");
  if (!checked) {
    DS_FUZZ_CHECK(checked.error().kind == ds::ErrorKind::kInvalid ||
                      checked.error().kind == ds::ErrorKind::kTooLarge,
                  "");
    DS_FUZZ_CHECK(
        (checked.error().kind == ds::ErrorKind::kTooLarge) == (message.size() > limits.max_bytes),
        "");
    return 0;
  }
  DS_FUZZ_CHECK(message.size() <= limits.max_bytes, "");
  DS_FUZZ_CHECK(checked->width >= 1 && checked->width <= limits.max_dimension, "");
  DS_FUZZ_CHECK(checked->height >= 1 && checked->height <= limits.max_dimension, "");
  DS_FUZZ_CHECK(checked->width == direct->width && checked->height == direct->height, "");
  return 0;
}
