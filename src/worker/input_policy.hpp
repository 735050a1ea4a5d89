// What `push --input` lets libav open, and what `--listen` asks of a publisher: each input gets
// its own protocol stack and the containers its scheme carries, so a playlist or manifest that
// a publisher sends cannot point libav at file: or any other URL; a listener off loopback needs
// a publish secret, which an RTMP publisher must send as its stream name and SRT uses as its
// passphrase. Pure functions: av_source applies them.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/expected.hpp"

namespace ds::worker {

struct InputUrl {
  std::string scheme;  // lower case; "file" for a plain path
  std::string host;    // for scheme://[user@]host[:port]/…, without IPv6 brackets
  int port = 0;        // 0: none given
  std::string path;    // from the first '/' after the host, without the ?query
  std::string query;   // after '?', without it
};

// Splits an --input as libav reads it: "scheme:…" names a protocol, anything else is a path.
InputUrl parse_input_url(std::string_view url);

// 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(std::string_view host);

struct InputPolicy {
  std::string protocol_whitelist;  // libav's protocol_whitelist
  std::string format_whitelist;    // libav's format_whitelist; empty: any demuxer
  std::string format;              // the demuxer to use when --input-format names none
};

// For the input `url` and the user's --input-format (may be empty, then added to the
// containers allowed): a network input may open only its own protocol stack and the containers
// its scheme carries; a local file or pipe only itself, in any container.
InputPolicy input_policy(std::string_view url, std::string_view user_format);

// A publish secret: 16 to 63 characters of A-Z a-z 0-9 . _ ~ - (it travels in an RTMP URL
// and must fit libav's 64-byte stream name).
Expected<Ok> check_publish_secret(std::string_view secret);

struct ListenPlan {
  std::string open_url;  // what libav opens: for RTMP with a secret, the URL + "/" + secret
  std::vector<std::pair<std::string, std::string>> options;  // listen=1, mode, passphrase
  bool check_stream_name = false;   // RTMP with a secret: a publisher's name must be open_url's
  bool handshake_deadline = false;  // the listener is a TCP socket: a silent peer can be timed
};

// What `--listen` on `url` needs: rtmp, srt, tcp or http; off loopback only rtmp or srt and
// only with a secret; a secret only where it can be checked.
Expected<ListenPlan> listen_plan(std::string_view url, std::string_view secret);

}  // namespace ds::worker
