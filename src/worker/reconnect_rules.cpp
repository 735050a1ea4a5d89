#include "worker/reconnect_rules.hpp"

#include "live/protocol.hpp"

namespace ds::worker {
namespace {

using live::wire::CloseCode;
using live::wire::code_value;

// RFC 6455's registry codes a proxy in front of the server may send while it restarts.
constexpr int kServiceRestart = 1012;
constexpr int kBadGateway = 1014;

bool transient_close(int code, std::string_view ended_reason) {
  if (code == code_value(CloseCode::kGoingAway) || code == code_value(CloseCode::kInternal) ||
      code == code_value(CloseCode::kTryAgain) || code == kServiceRestart || code == kBadGateway) {
    return true;
  }
  // A server that shuts down ends its streams as interrupted; the restarted one starts a new
  // stream for the same key, which is what an unattended pusher (OBS) wants.
  if (code == code_value(CloseCode::kEnded)) {
    auto reason = live::parse_end_reason(ended_reason);
    return reason == live::EndReason::kServerShutdown || reason == live::EndReason::kInterrupted;
  }
  return false;
}

}  // namespace

bool is_transient(const LineEnd& end) {
  switch (end.kind) {
    case LineEnd::Kind::kConnectFailed:
    case LineEnd::Kind::kLost:
      return true;
    case LineEnd::Kind::kRefused:
      return end.code >= 500 && end.code <= 599;
    case LineEnd::Kind::kClosed:
      return transient_close(end.code, end.ended_reason);
  }
  return false;
}

AfterEnd after_end(const LineEnd& end, const RetryRules& rules, bool ever_open,
                   std::chrono::milliseconds down_for) {
  if (rules.retry_for <= std::chrono::milliseconds::zero()) return AfterEnd::kFinal;
  if (!ever_open && !rules.retry_first_connect) return AfterEnd::kFinal;
  if (!is_transient(end)) return AfterEnd::kFinal;
  return down_for >= rules.retry_for ? AfterEnd::kGiveUp : AfterEnd::kReconnect;
}

}  // namespace ds::worker
