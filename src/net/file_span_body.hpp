// A Beast body that sends `length` bytes of an open file from `offset`, read 64 KiB at a time as
// the socket takes them, so a large file never sits in memory (api::Response::file). Beast's own
// file_body sends a whole file only. The reads run on the connection's event loop: from the page
// cache they cost what a copy does.
#pragma once

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/file.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional.hpp>
#include <cstdint>
#include <utility>

namespace ds::net {

struct FileSpanBody {
  struct value_type {
    boost::beast::file file;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
  };

  static std::uint64_t size(const value_type& v) { return v.length; }

  class writer {
   public:
    using const_buffers_type = boost::asio::const_buffer;

    template <bool isRequest, class Fields>
    writer(boost::beast::http::header<isRequest, Fields>&, value_type& body)
        : body_(body), remain_(body.length) {}

    void init(boost::beast::error_code& ec) { body_.file.seek(body_.offset, ec); }

    boost::optional<std::pair<const_buffers_type, bool>> get(boost::beast::error_code& ec) {
      auto amount = static_cast<std::size_t>(std::min<std::uint64_t>(remain_, sizeof(buf_)));
      if (amount == 0) {
        ec = {};
        return boost::none;
      }
      auto n = body_.file.read(buf_, amount, ec);
      if (ec) return boost::none;
      if (n == 0) {
        // The file shrank under us: the client gets a short body and the connection closes.
        ec = boost::beast::http::error::short_read;
        return boost::none;
      }
      remain_ -= n;
      return {{const_buffers_type(buf_, n), remain_ > 0}};
    }

   private:
    value_type& body_;
    std::uint64_t remain_;
    char buf_[64 * 1024];
  };
};

}  // namespace ds::net
