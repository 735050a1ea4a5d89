#include "live/stream_state.hpp"

#include <array>
#include <utility>

namespace ds::live {

namespace {

constexpr std::array kStates{
    std::pair{StreamState::kOffline, std::string_view("offline")},
    std::pair{StreamState::kWaiting, std::string_view("waiting")},
    std::pair{StreamState::kLive, std::string_view("live")},
    std::pair{StreamState::kEnded, std::string_view("ended")},
};

constexpr std::array kReasons{
    std::pair{EndReason::kStopped, std::string_view("stopped")},
    std::pair{EndReason::kNoCredits, std::string_view("no_credits")},
    std::pair{EndReason::kInterrupted, std::string_view("interrupted")},
    std::pair{EndReason::kServerShutdown, std::string_view("server_shutdown")},
    std::pair{EndReason::kReplaced, std::string_view("replaced")},
    std::pair{EndReason::kRevoked, std::string_view("revoked")},
};

template <class Table, class E>
std::string_view name_in(const Table& table, E value) {
  for (const auto& [v, name] : table) {
    if (v == value) return name;
  }
  return "unknown";
}

template <class E, class Table>
std::optional<E> value_in(const Table& table, std::string_view name) {
  for (const auto& [v, n] : table) {
    if (n == name) return v;
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(StreamState s) { return name_in(kStates, s); }
std::string_view to_string(EndReason r) { return name_in(kReasons, r); }
std::optional<StreamState> parse_stream_state(std::string_view s) {
  return value_in<StreamState>(kStates, s);
}
std::optional<EndReason> parse_end_reason(std::string_view s) {
  return value_in<EndReason>(kReasons, s);
}

}  // namespace ds::live
