// No exception escapes a handler: work posted to the blocking pool (or run inline) goes through
// run_guarded, which logs what was thrown and hands it to a fallback that answers the client.
#pragma once

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <exception>
#include <string_view>
#include <utility>

namespace ds::net {

// What a failed step tells its client: a database outage is temporary (retry), anything else
// is an internal error.
struct Failure {
  bool database_unavailable = false;
  std::string what;
};

Failure classify(const std::exception& e);

template <class Fn, class OnError>
void run_guarded(std::string_view where, Fn&& fn, OnError&& on_error) noexcept {
  try {
    fn();
    return;
  } catch (const std::exception& e) {
    auto f = classify(e);
    spdlog::error("event=handler_error where={} database_unavailable={} error=\"{}\"", where,
                  f.database_unavailable, f.what);
    try {
      on_error(f);
    } catch (...) {
      spdlog::error("event=handler_error where={} error=\"fallback failed\"", where);
    }
  } catch (...) {
    spdlog::error("event=handler_error where={} error=unknown", where);
    try {
      on_error(Failure{false, "unknown"});
    } catch (...) {
    }
  }
}

template <class Executor, class Fn, class OnError>
void post_guarded(Executor&& ex, std::string_view where, Fn&& fn, OnError&& on_error) {
  boost::asio::post(
      std::forward<Executor>(ex),
      [where, fn = std::forward<Fn>(fn), on_error = std::forward<OnError>(on_error)]() mutable {
        run_guarded(where, fn, on_error);
      });
}

}  // namespace ds::net
