// Reconnect delays: exponential growth up to a cap, with jitter so many clients spread out.
#pragma once

namespace ds::worker {

class Backoff {
 public:
  Backoff(int initial_ms, int max_ms) : initial_ms_(initial_ms), max_ms_(max_ms) {}

  // The delay before the next attempt. `random01` in [0, 1) picks a point in the upper half of
  // the current step ("equal jitter"): the delay never drops below half the step and never
  // exceeds max_ms.
  int next_delay_ms(double random01);
  // After a connection that worked, start again from the initial delay.
  void reset() { attempt_ = 0; }
  int attempts() const { return attempt_; }

 private:
  int initial_ms_;
  int max_ms_;
  int attempt_ = 0;
};

}  // namespace ds::worker
