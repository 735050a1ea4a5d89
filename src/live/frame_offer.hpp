// A camera frame on its way to a worker, with the style it is to be processed in.
#pragma once

#include <cstdint>
#include <string>

#include "live/protocol.hpp"

namespace ds::live {

struct StyleParams {
  std::string prompt;
  double strength = 0.6;
  std::int64_t seed = 0;
};

// The newest camera frame of a stream, on its way to a worker (on many nodes: offered by its
// home to every node's idle workers).
struct FrameOffer {
  long long session_id = 0;
  std::string username;
  std::uint64_t seq = 0;
  std::int64_t captured_ms = 0;
  StyleParams style;
  Bytes jpeg;
};

}  // namespace ds::live
