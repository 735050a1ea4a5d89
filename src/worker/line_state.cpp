#include "worker/line_state.hpp"

#include <stdexcept>
#include <string>

namespace ds::worker {

std::string_view to_string(LineState s) {
  switch (s) {
    case LineState::kConnecting:
      return "connecting";
    case LineState::kOpen:
      return "open";
    case LineState::kClosing:
      return "closing";
    case LineState::kBackoff:
      return "backoff";
    case LineState::kClosed:
      return "closed";
  }
  return "unknown";
}

bool is_allowed(LineState from, LineState to) {
  using S = LineState;
  switch (from) {
    case S::kConnecting:
      return to == S::kOpen || to == S::kBackoff || to == S::kClosed;
    case S::kOpen:
      return to == S::kClosing || to == S::kBackoff || to == S::kClosed;
    case S::kClosing:
      return to == S::kClosed;
    case S::kBackoff:
      return to == S::kConnecting || to == S::kClosed;
    case S::kClosed:
      return false;
  }
  return false;
}

void LineStateMachine::enter(LineState to) {
  if (!is_allowed(state_, to)) {
    throw std::logic_error("line state: no move from " + std::string(to_string(state_)) + " to " +
                           std::string(to_string(to)));
  }
  LineState from = state_;
  state_ = to;
  if (observer_) observer_(from, to);
}

}  // namespace ds::worker
