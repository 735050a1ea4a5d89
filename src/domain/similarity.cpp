#include "domain/similarity.hpp"

#include <cstdlib>

namespace ds::domain {

double change_between(const Thumbnail& a, const Thumbnail& b) {
  int changed = 0;
  for (std::size_t i = 0; i < a.pixels.size(); ++i) {
    changed += std::abs(int{a.pixels[i]} - int{b.pixels[i]}) > kPixelTolerance;
  }
  return static_cast<double>(changed) / static_cast<double>(a.pixels.size());
}

}  // namespace ds::domain
