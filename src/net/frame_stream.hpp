// The layer under a viewer's WebSocket stream: Beast reads and writes through it as through the
// TCP stream, and the session can also write a whole, already framed message straight to the
// socket (write_now). A processed frame's message is the same for every viewer (server frames
// are not masked), so it needs no per-viewer framing, and Beast's composed write (four layers
// of operations and a completion through the loop's queue per message) is most of the
// user-space time of a fan-out (docs/performance.md, fan-out). write_now is one sendmsg.
//
// Ordering: a message written here must never interleave with one of Beast's (its pings, the
// pongs it answers, its close, the session's texts). So write_now only writes while none of
// Beast's writes is under way (it says kBusy otherwise and the caller writes through Beast),
// and while the rest of a message that did not fit the socket is being written, Beast's
// writes wait here and follow it.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <cerrno>
#include <functional>
#include <memory>
#include <vector>

#include "net/server.hpp"

namespace ds::net {

// The header of an unmasked final frame (a server's) with this opcode and payload length, into
// out (at most 10 bytes); returns its length.
inline std::size_t ws_frame_header(unsigned char opcode, std::size_t length,
                                   std::array<unsigned char, 10>& out) {
  out[0] = static_cast<unsigned char>(0x80 | opcode);
  if (length < 126) {
    out[1] = static_cast<unsigned char>(length);
    return 2;
  }
  if (length <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<unsigned char>(length >> 8);
    out[3] = static_cast<unsigned char>(length);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) {
    out[2 + i] = static_cast<unsigned char>(static_cast<std::uint64_t>(length) >> (56 - 8 * i));
  }
  return 10;
}

class FrameStream {
 public:
  using executor_type = Stream::executor_type;
  using next_layer_type = Stream;
  using Parts = std::array<asio::const_buffer, 4>;

  explicit FrameStream(Stream&& stream) : stream_(std::move(stream)) {}

  executor_type get_executor() noexcept { return stream_.get_executor(); }
  Stream& next_layer() noexcept { return stream_; }
  const Stream& next_layer() const noexcept { return stream_; }

  template <class MutableBufferSequence, class ReadHandler>
  auto async_read_some(const MutableBufferSequence& buffers, ReadHandler&& handler) {
    return stream_.async_read_some(buffers, std::forward<ReadHandler>(handler));
  }

  template <class ConstBufferSequence, class WriteHandler>
  auto async_write_some(const ConstBufferSequence& buffers, WriteHandler&& handler) {
    return asio::async_initiate<WriteHandler, void(beast::error_code, std::size_t)>(
        [this](auto h, const ConstBufferSequence& b) {
          using H = decltype(h);
          if (state_->failed) return fail_write(std::move(h), state_->failed);
          if (state_->raw_pending) {
            // After the rest of the message being written here, or failed with it.
            auto held = std::make_shared<H>(std::move(h));
            state_->deferred.push_back([this, held, b](beast::error_code ec) {
              if (ec) return fail_write(std::move(*held), ec);
              start_write(b, std::move(*held));
            });
            return;
          }
          start_write(b, std::move(h));
        },
        handler, buffers);
  }

  enum class Sent {
    kAll,      // written
    kPending,  // part written; the rest follows and done(ec) is called when it has
    kBusy,     // one of Beast's writes is under way: nothing written
    kFailed,   // a write failed: nothing more is written (ec says why)
  };

  // Writes one whole WebSocket message (header included). make_done is called only for
  // kPending, before this returns: the done(ec) it returns is called from the loop once the
  // rest is written or has failed, and should keep the session alive until then. (A message
  // written at once, the common case, then costs no completion and no keep-alive.)
  template <class MakeDone>
  Sent write_now(const Parts& parts, beast::error_code& ec, MakeDone&& make_done) {
    if (state_->failed) {
      ec = state_->failed;
      return Sent::kFailed;
    }
    if (state_->beast_writes > 0 || state_->raw_pending) return Sent::kBusy;
    std::array<iovec, 4> iov{};
    std::size_t n = 0;
    std::size_t total = 0;
    for (const auto& p : parts) {
      if (p.size() == 0) continue;
      iov[n].iov_base = const_cast<void*>(p.data());
      iov[n].iov_len = p.size();
      total += p.size();
      ++n;
    }
    msghdr msg{};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = n;
    ssize_t sent;
    do {
      sent = ::sendmsg(stream_.socket().native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      ec = beast::error_code(errno, boost::system::system_category());
      state_->failed = ec;
      return Sent::kFailed;
    }
    std::size_t done_bytes = sent < 0 ? 0 : static_cast<std::size_t>(sent);
    if (done_bytes == total) return Sent::kAll;
    // The socket is full: the rest when it drains, Beast's writes after it.
    Parts rest{};
    std::size_t k = 0;
    std::size_t skip = done_bytes;
    for (const auto& p : parts) {
      if (skip >= p.size()) {
        skip -= p.size();
        continue;
      }
      rest[k++] = p + skip;
      skip = 0;
    }
    state_->raw_pending = true;
    asio::async_write(stream_, rest,
                      [state = state_, done = std::forward<MakeDone>(make_done)()](
                          beast::error_code wec, std::size_t) mutable {
                        state->raw_pending = false;
                        if (wec) state->failed = wec;
                        auto deferred = std::move(state->deferred);
                        state->deferred.clear();
                        // Beast's writes first: the session's next message, written from
                        // done(), then finds them under way and goes behind them through
                        // Beast, instead of being half written when they start. done keeps
                        // the session (and so this stream) alive until here.
                        for (auto& resume : deferred) resume(wec);
                        done(wec);
                      });
    return Sent::kPending;
  }

 private:
  // Outlives the stream in the completion handlers of Beast's writes.
  struct State {
    int beast_writes = 0;
    bool raw_pending = false;
    // Beast's writes waiting for the rest of a message: started after it, or failed with it.
    std::vector<std::function<void(beast::error_code)>> deferred;
    // The first write that failed; nothing is written after it. Not only pointless: Asio 1.74
    // marks a socket whose write failed as not writable, and a write started on it then waits
    // for an epoll edge that has already come (it hangs until the idle timeout closes the
    // socket, holding the session, its descriptor and its connection slot).
    beast::error_code failed;
  };

  template <class H>
  struct Counted {
    std::shared_ptr<State> state;
    H handler;
    using executor_type = asio::associated_executor_t<H, FrameStream::executor_type>;
    using allocator_type = asio::associated_allocator_t<H>;
    executor_type ex;
    executor_type get_executor() const noexcept { return ex; }
    allocator_type get_allocator() const noexcept {
      return asio::get_associated_allocator(handler);
    }
    void operator()(beast::error_code ec, std::size_t n) {
      --state->beast_writes;
      if (ec && !state->failed) state->failed = ec;
      std::move(handler)(ec, n);
    }
  };

  // Completes one of Beast's writes with ec, from the loop, without touching the socket.
  template <class H>
  void fail_write(H&& h, beast::error_code ec) {
    asio::post(stream_.get_executor(),
               beast::bind_front_handler(std::forward<H>(h), ec, std::size_t{0}));
  }

  template <class ConstBufferSequence, class H>
  void start_write(const ConstBufferSequence& buffers, H&& h) {
    ++state_->beast_writes;
    auto ex = asio::get_associated_executor(h, stream_.get_executor());
    stream_.async_write_some(buffers,
                             Counted<std::decay_t<H>>{state_, std::forward<H>(h), std::move(ex)});
  }

  Stream stream_;
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// Closing the WebSocket closes the TCP stream underneath (found by Beast through ADL).
inline void teardown(beast::role_type role, FrameStream& s, beast::error_code& ec) {
  using beast::websocket::teardown;
  teardown(role, s.next_layer(), ec);
}

template <class TeardownHandler>
void async_teardown(beast::role_type role, FrameStream& s, TeardownHandler&& handler) {
  using beast::websocket::async_teardown;
  async_teardown(role, s.next_layer(), std::forward<TeardownHandler>(handler));
}

}  // namespace ds::net
