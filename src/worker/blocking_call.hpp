// Awaits a blocking function run on a thread pool, resuming on the caller's executor.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <utility>

namespace ds::worker {

// `f` runs on `pool`; its result (default-constructible, movable) is handed back on `home`, so
// the awaiting coroutine never continues on a pool thread. Deliberately not a coroutine itself:
// the function travels as an initiation argument, not as a capture inside a coroutine frame
// (GCC 12 mishandles such temporaries).
template <class F>
auto blocking_call(boost::asio::thread_pool& pool, boost::asio::any_io_executor home, F f) {
  namespace asio = boost::asio;
  using R = decltype(f());
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(R)>(
      [&pool, home](auto handler, F fn) {
        asio::post(pool, [home, fn = std::move(fn), handler = std::move(handler)]() mutable {
          R result = fn();
          asio::post(home, [result = std::move(result), handler = std::move(handler)]() mutable {
            std::move(handler)(std::move(result));
          });
        });
      },
      asio::use_awaitable, std::move(f));
}

}  // namespace ds::worker
