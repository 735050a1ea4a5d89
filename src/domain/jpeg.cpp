#include "domain/jpeg.hpp"

#include <string>

namespace ds::domain {

namespace {

Error bad(std::string message) { return {ErrorKind::kInvalid, "bad_frame", std::move(message)}; }

unsigned byte_at(std::string_view d, std::size_t i) { return static_cast<unsigned char>(d[i]); }

}  // namespace

Expected<JpegInfo> validate_jpeg(std::string_view d, const JpegLimits& limits) {
  if (d.size() > limits.max_bytes) {
    return Error{ErrorKind::kTooLarge, "too_large",
                 "frame is larger than " + std::to_string(limits.max_bytes) + " bytes"};
  }
  if (d.size() < 4 || byte_at(d, 0) != 0xFF || byte_at(d, 1) != 0xD8)
    return bad("not a JPEG image");
  // Trailing padding after EOI is tolerated; missing EOI means a truncated frame.
  std::size_t end = d.size();
  while (end > 2 && byte_at(d, end - 1) == 0x00) --end;
  if (byte_at(d, end - 2) != 0xFF || byte_at(d, end - 1) != 0xD9)
    return bad("truncated JPEG image");

  std::size_t i = 2;
  while (i + 4 <= end) {
    if (byte_at(d, i) != 0xFF) return bad("corrupt JPEG marker structure");
    unsigned marker = byte_at(d, i + 1);
    if (marker == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
      i += 2;
      continue;
    }
    if (marker == 0xD9 || marker == 0xDA) break;  // EOI or start of scan before a frame header
    std::size_t len = (byte_at(d, i + 2) << 8) | byte_at(d, i + 3);
    if (len < 2 || i + 2 + len > end) return bad("corrupt JPEG segment length");
    bool is_sof =
        marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (is_sof) {
      if (len < 8) return bad("corrupt JPEG frame header");
      int height = static_cast<int>((byte_at(d, i + 5) << 8) | byte_at(d, i + 6));
      int width = static_cast<int>((byte_at(d, i + 7) << 8) | byte_at(d, i + 8));
      if (width <= 0 || height <= 0) return bad("JPEG image has no size");
      if (width > limits.max_dimension || height > limits.max_dimension) {
        return bad("JPEG image is larger than " + std::to_string(limits.max_dimension) +
                   " pixels on a side");
      }
      return JpegInfo{width, height};
    }
    i += 2 + len;
  }
  return bad("JPEG image has no frame header");
}

}  // namespace ds::domain
