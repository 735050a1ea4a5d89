// How much a camera frame changed, measured on small grey thumbnails (docs/architecture.md,
// "Unchanged frames skipped"). Pure: the thumbnail is made elsewhere (worker/thumbnail.hpp).
#pragma once

#include <array>
#include <cstdint>

namespace ds::domain {

// A frame shrunk to 32×24 grey levels (0..255), row by row: each pixel is the mean of a block
// of the frame, so sensor noise and JPEG artefacts mostly average out.
struct Thumbnail {
  static constexpr int kWidth = 32;
  static constexpr int kHeight = 24;
  std::array<std::uint8_t, kWidth * kHeight> pixels{};
};

// Grey levels a thumbnail pixel may move and still count as unchanged: several times the noise
// left after the averaging (docs/performance.md, "Skipping unchanged frames"), well below what
// an object moving in or out of a block does.
inline constexpr int kPixelTolerance = 10;

// The share of the thumbnail's pixels (0..1) that changed by more than kPixelTolerance grey
// levels. A still camera scores 0 whatever its noise; a hand moving in a tenth of the picture
// scores about 0.1. A share, not a mean difference: a small motion is not averaged away by a
// large still background.
double change_between(const Thumbnail& a, const Thumbnail& b);

}  // namespace ds::domain
