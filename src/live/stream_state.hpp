// A stream's state as viewers see it, and why a stream (or a streamer's socket) ended: typed
// everywhere inside the server, spelt as strings only on the wire (docs/protocol.md: the
// "state" event and the "ended" message) by to_string / parse here.
#pragma once

#include <optional>
#include <string_view>

namespace ds::live {

enum class StreamState {
  kOffline,  // no stream open
  kWaiting,  // open, but no processed picture lately (no frame, or no model free)
  kLive,     // open, with fresh processed pictures
  kEnded,    // just ended (viewers then hear "ended" and the reason)
};

enum class EndReason {
  kStopped,         // the streamer ended it (stop, or a goodbye)
  kNoCredits,       // the balance ran out
  kInterrupted,     // no frame for the grace period, or its node went away
  kServerShutdown,  // the server shut down
  kReplaced,        // this socket was replaced by a newer one of the same streamer
  kRevoked,         // the key or login this socket came with was revoked
};

std::string_view to_string(StreamState s);
std::string_view to_string(EndReason r);
// nullopt for a spelling this version does not know (a newer server's).
std::optional<StreamState> parse_stream_state(std::string_view s);
std::optional<EndReason> parse_end_reason(std::string_view s);

}  // namespace ds::live
