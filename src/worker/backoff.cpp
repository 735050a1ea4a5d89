#include "worker/backoff.hpp"

#include <algorithm>

namespace ds::worker {

int Backoff::next_delay_ms(double random01) {
  double step = initial_ms_;
  for (int i = 0; i < attempt_ && step < max_ms_; ++i) step *= 2;
  step = std::min<double>(step, max_ms_);
  ++attempt_;
  double r = std::clamp(random01, 0.0, 1.0);
  return static_cast<int>(step / 2 + r * step / 2);
}

}  // namespace ds::worker
