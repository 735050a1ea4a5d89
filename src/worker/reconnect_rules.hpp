// When `dreamstream push` reconnects: how a connection to /ws/ingest ended, and whether that end
// is worth another try (a server restart, a network blip) or final (a refusal, an ended stream).
#pragma once

#include <chrono>
#include <string_view>

namespace ds::worker {

// How one connection (or one attempt to make it) ended.
struct LineEnd {
  enum class Kind {
    kConnectFailed,  // no HTTP answer: refused, timed out, name not found
    kRefused,        // the upgrade got an HTTP error status (`code`)
    kLost,           // the connection broke without a close frame (EOF, reset, idle timeout)
    kClosed,         // the server sent a close frame (`code`)
  };
  Kind kind = Kind::kLost;
  int code = 0;
  std::string_view ended_reason;  // the "reason" of the server's {"type":"ended"}, if one came
};

// True when another connection may well work: the line broke or could not be made, the server
// was restarting or overloaded (HTTP 5xx; close 1001, 1011, 1012, 1013, 1014), or it ended the
// stream only because it shut down (close 4002 after "ended" with reason `server_shutdown` or
// `interrupted`). Everything else (HTTP 4xx, close 1000, 1008, 1009, 4001, 4002, 44xx) is final.
bool is_transient(const LineEnd& end);

struct RetryRules {
  std::chrono::milliseconds retry_for{60'000};  // how long to keep trying; 0: never reconnect
  bool retry_first_connect = false;  // also retry before any connection of the run was open
};

enum class AfterEnd {
  kReconnect,  // wait a backoff delay and connect again
  kGiveUp,     // transient, but the line has been down for retry_for: exit 1
  kFinal,      // not worth another try (or retries are off): exit as without reconnects
};

// `ever_open`: a connection of this run was upgraded. `down_for`: how long the line has been
// down (zero at the first failure).
AfterEnd after_end(const LineEnd& end, const RetryRules& rules, bool ever_open,
                   std::chrono::milliseconds down_for);

}  // namespace ds::worker
