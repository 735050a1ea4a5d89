// Fuzzes the worker's MJPEG splitter (ds::worker::MjpegSplitter) on a byte stream fed in
// chunks the input chooses: no byte is lost or invented, every frame runs SOI to EOI, and the
// frames do not depend on how the stream was chunked.
//
// Input: byte 0 picks the frame size cap, byte 1 seeds the chunk sizes, the rest is the stream.
#include "worker/mjpeg_splitter.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "check.hpp"

namespace {

struct Split {
  std::vector<std::string> frames;
  std::size_t skipped = 0;
  std::size_t pending = 0;
  std::size_t largest_pending = 0;  // after any feed
};

Split split(std::string_view stream, std::size_t max_frame, std::uint8_t seed) {
  ds::worker::MjpegSplitter splitter(max_frame);
  Split out;
  std::uint32_t state = seed;
  while (!stream.empty()) {
    std::size_t n = stream.size();
    if (seed != 0) {
      state = state * 1103515245u + 12345u;  // a small LCG: chunk sizes 1..64
      n = std::min<std::size_t>(n, 1 + ((state >> 16) & 63));
    }
    for (auto& f : splitter.feed(stream.substr(0, n))) out.frames.push_back(std::move(f));
    out.largest_pending = std::max(out.largest_pending, splitter.pending_bytes());
    stream.remove_prefix(n);
  }
  out.skipped = splitter.skipped_bytes();
  out.pending = splitter.pending_bytes();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  static constexpr std::size_t kCaps[] = {ds::worker::MjpegSplitter::kDefaultMaxFrameBytes, 64, 300,
                                          4096};
  std::size_t max_frame = kCaps[data[0] & 3];
  std::uint8_t seed = data[1];
  std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);

  auto chunked = split(stream, max_frame, seed);
  std::size_t framed = 0;
  for (const auto& f : chunked.frames) {
    DS_FUZZ_CHECK(f.size() >= 4, "");
    DS_FUZZ_CHECK(
        static_cast<std::uint8_t>(f[0]) == 0xFF && static_cast<std::uint8_t>(f[1]) == 0xD8, "");
    DS_FUZZ_CHECK(static_cast<std::uint8_t>(f[f.size() - 2]) == 0xFF &&
                      static_cast<std::uint8_t>(f[f.size() - 1]) == 0xD9,
                  "");
    DS_FUZZ_CHECK(f.size() <= max_frame + 2, "");
    framed += f.size();
  }
  // Every byte is in a frame, skipped, or held for the next feed.
  DS_FUZZ_CHECK(framed + chunked.skipped + chunked.pending == stream.size(), "");
  // Memory stays bounded: what is held after any feed is at most one capped frame.
  DS_FUZZ_CHECK(chunked.largest_pending <= max_frame + 2, "");

  // Chunking is invisible: one feed of the whole stream gives the same frames.
  if (seed != 0) {
    auto whole = split(stream, max_frame, 0);
    DS_FUZZ_CHECK(whole.frames == chunked.frames, "");
    DS_FUZZ_CHECK(whole.skipped == chunked.skipped, "");
    DS_FUZZ_CHECK(whole.pending == chunked.pending, "");
    DS_FUZZ_CHECK(whole.largest_pending <= max_frame + 2, "");
  }
  return 0;
}
