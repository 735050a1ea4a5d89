// Cheap structural JPEG validation for incoming frames: markers, size and dimension caps.
#pragma once

#include <cstddef>
#include <string_view>

#include "util/expected.hpp"

namespace ds::domain {

struct JpegInfo {
  int width = 0;
  int height = 0;
};

struct JpegLimits {
  std::size_t max_bytes = 2 * 1024 * 1024;
  int max_dimension = 4096;
};

// Checks SOI, walks the marker segments to a frame header (SOF) for the dimensions, and
// requires EOI at the end, so truncated uploads are caught without decoding pixels.
// Errors: kTooLarge too_large, kInvalid bad_frame.
Expected<JpegInfo> validate_jpeg(std::string_view data, const JpegLimits& limits);

}  // namespace ds::domain
