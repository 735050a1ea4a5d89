// The smallest input validate_jpeg accepts as a w×h JPEG: SOI, SOF0, SOS, EOI. For tests that
// need a frame the server takes without decoding a real image.
#pragma once

#include <string>

namespace ds::test {

inline std::string tiny_jpeg(int w = 64, int h = 64) {
  std::string d = {'\xFF', '\xD8', '\xFF', '\xC0', 0, 11, 8};
  d += static_cast<char>(h >> 8);
  d += static_cast<char>(h & 0xFF);
  d += static_cast<char>(w >> 8);
  d += static_cast<char>(w & 0xFF);
  d += std::string{1, 1, 0x11, 0};
  d += std::string{'\xFF', '\xDA', 0, 2, 1, 2, 3, '\xFF', '\xD9'};
  return d;
}

}  // namespace ds::test
