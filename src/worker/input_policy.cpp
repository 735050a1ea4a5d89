#include "worker/input_policy.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

namespace ds::worker {
namespace {

// Containers a live network input carries (FLV, MPEG-TS, Matroska/WebM, fragmented MP4, MJPEG
// and multipart JPEG from IP cameras, raw H.264/H.265, NUT, IVF). None of them opens another
// URL.
constexpr std::string_view kStreamFormats =
    "flv,live_flv,mpegts,matroska,mov,mjpeg,mpjpeg,h264,hevc,mpegvideo,nut,ivf";

struct SchemeRule {
  std::string_view scheme;
  std::string_view protocols;  // libav protocol names, as in `ffmpeg -protocols`
  bool live_formats;           // kStreamFormats, and `formats` besides
  std::string_view formats;    // the containers it may carry
  std::string_view format;     // the demuxer to force; empty: probe among the containers
};

// ffrtmphttp and ffrtmpcrypt are libav's internal carriers of rtmpt and rtmpe; the RTSP demuxer
// opens its RTP/UDP (or TCP, or HTTP tunnel) connections itself, through the same whitelist.
// HTTP may carry an HLS playlist: its segments (MPEG-TS, fragmented MP4, AAC/MP3 renditions)
// are opened through the same whitelists, and crypto is AES-128 HLS.
constexpr std::array kSchemes{
    SchemeRule{"rtmp", "rtmp,tcp", false, "flv", "flv"},
    SchemeRule{"rtmps", "rtmps,tls,tcp", false, "flv", "flv"},
    SchemeRule{"rtmpt", "rtmpt,ffrtmphttp,http,tcp", false, "flv", "flv"},
    SchemeRule{"rtmpts", "rtmpts,ffrtmphttp,https,tls,tcp", false, "flv", "flv"},
    SchemeRule{"rtmpe", "rtmpe,ffrtmpcrypt,tcp", false, "flv", "flv"},
    SchemeRule{"srt", "srt", false, "mpegts", ""},
    SchemeRule{"rist", "rist", false, "mpegts", ""},
    SchemeRule{"rtsp", "rtsp,rtp,srtp,udp,tcp,http", false, "rtsp", "rtsp"},
    SchemeRule{"rtsps", "rtsps,rtp,srtp,udp,tcp,tls", false, "rtsp", "rtsp"},
    SchemeRule{"rtp", "rtp,udp", false, "rtp,mpegts", ""},
    SchemeRule{"udp", "udp", true, "", ""},
    SchemeRule{"tcp", "tcp", true, "", ""},
    SchemeRule{"http", "http,https,tls,tcp,crypto", true, "hls,aac,mp3", ""},
    SchemeRule{"https", "http,https,tls,tcp,crypto", true, "hls,aac,mp3", ""},
};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string join(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  if (b.empty()) return std::string(a);
  return std::string(a) + "," + std::string(b);
}

bool is_ipv4_loopback(std::string_view host) {
  // 127.x.y.z: four decimal parts, the first 127.
  int parts = 0;
  int first = -1;
  while (!host.empty()) {
    auto dot = host.find('.');
    auto part = host.substr(0, dot);
    int v = 0;
    auto r = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || r.ec != std::errc() || r.ptr != part.data() + part.size() || v > 255) {
      return false;
    }
    if (parts++ == 0) first = v;
    if (dot == std::string_view::npos) break;
    host.remove_prefix(dot + 1);
    if (host.empty()) return false;
  }
  return parts == 4 && first == 127;
}

bool secret_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '~' ||
         c == '-';
}

}  // namespace

InputUrl parse_input_url(std::string_view url) {
  InputUrl out;
  constexpr std::string_view kSchemeChars =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.";
  auto len = url.find_first_not_of(kSchemeChars);
  if (len == 0 || len == std::string_view::npos || url[len] != ':') {
    out.scheme = "file";
    out.path = std::string(url);
    return out;
  }
  out.scheme = lower(url.substr(0, len));
  std::string_view rest = url.substr(len + 1);
  if (rest.substr(0, 2) == "//") {
    rest.remove_prefix(2);
    auto end = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
    if (auto at = authority.rfind('@'); at != std::string_view::npos) {
      authority.remove_prefix(at + 1);
    }
    std::string_view port;
    if (!authority.empty() && authority.front() == '[') {
      auto close = authority.find(']');
      out.host = std::string(authority.substr(
          1, close == std::string_view::npos ? std::string_view::npos : close - 1));
      if (close != std::string_view::npos && authority.substr(close + 1).starts_with(":")) {
        port = authority.substr(close + 2);
      }
    } else {
      auto colon = authority.find(':');
      out.host = std::string(authority.substr(0, colon));
      if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    }
    int p = 0;
    auto r = std::from_chars(port.data(), port.data() + port.size(), p);
    if (!port.empty() && r.ec == std::errc() && r.ptr == port.data() + port.size()) out.port = p;
  }
  auto q = rest.find('?');
  out.path = std::string(rest.substr(0, q));
  if (q != std::string_view::npos) out.query = std::string(rest.substr(q + 1));
  return out;
}

bool is_loopback_host(std::string_view host) {
  std::string h = lower(host);
  return h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1" || is_ipv4_loopback(h);
}

InputPolicy input_policy(std::string_view url, std::string_view user_format) {
  InputUrl u = parse_input_url(url);
  InputPolicy policy;
  auto rule = std::find_if(kSchemes.begin(), kSchemes.end(),
                           [&](const SchemeRule& r) { return r.scheme == u.scheme; });
  if (rule != kSchemes.end()) {
    policy.protocol_whitelist = std::string(rule->protocols);
    policy.format_whitelist =
        rule->live_formats ? join(kStreamFormats, rule->formats) : std::string(rule->formats);
    policy.format = std::string(rule->format);
  } else if (u.scheme == "file" || u.scheme == "pipe") {
    // The user named this file (or pipe) here: it may be any container, and it may open only
    // itself (a local playlist, for one, only other local files).
    policy.protocol_whitelist = u.scheme == "file" ? "file,crypto" : "pipe";
  } else {
    // Another protocol (mmsh, gopher, ...): itself over the usual transports, live containers.
    policy.protocol_whitelist = u.scheme + ",tcp,udp,tls";
    policy.format_whitelist = std::string(kStreamFormats);
  }
  if (!user_format.empty()) {
    policy.format.clear();  // the user's own choice is forced instead
    if (!policy.format_whitelist.empty()) {
      policy.format_whitelist = join(policy.format_whitelist, user_format);
    }
  }
  return policy;
}

Expected<Ok> check_publish_secret(std::string_view secret) {
  if (secret.size() < 16 || secret.size() > 63 ||
      !std::all_of(secret.begin(), secret.end(), secret_char)) {
    return bad_request(
        "--publish-secret must be 16 to 63 characters of A-Z a-z 0-9 . _ ~ - (for example "
        "from `openssl rand -hex 16`)",
        "bad_publish_secret");
  }
  return Ok{};
}

Expected<ListenPlan> listen_plan(std::string_view url, std::string_view secret) {
  InputUrl u = parse_input_url(url);
  ListenPlan plan;
  plan.open_url = std::string(url);
  bool rtmp = u.scheme == "rtmp";
  bool srt = u.scheme == "srt";
  bool plain = u.scheme == "tcp" || u.scheme == "http";
  if (!rtmp && !srt && !plain) {
    return bad_request(
        "--listen works with rtmp://, srt://, tcp:// and http:// inputs, not " + u.scheme + ":",
        "bad_listen_url");
  }
  bool loopback = is_loopback_host(u.host);
  if (plain && !loopback) {
    return bad_request("a " + u.scheme +
                           ":// listener cannot check who publishes: listen on 127.0.0.1, or "
                           "use rtmp:// or srt:// with --publish-secret off this machine",
                       "listen_not_loopback");
  }
  if (plain && !secret.empty()) {
    return bad_request("--publish-secret works with rtmp:// and srt:// listeners; a " + u.scheme +
                           ":// listener cannot check it",
                       "bad_listen_url");
  }
  if (!loopback && secret.empty()) {
    return bad_request("listening on " + (u.host.empty() ? std::string("every address") : u.host) +
                           " (not loopback) needs --publish-secret (or "
                           "DREAMSTREAM_PUBLISH_SECRET): anyone who reaches the port could "
                           "publish into your stream",
                       "publish_secret_required");
  }
  if (!secret.empty()) {
    if (auto ok = check_publish_secret(secret); !ok) return ok.error();
  }
  if (srt) {
    plan.options.emplace_back("mode", "listener");
    if (!secret.empty()) {
      if (u.query.find("passphrase=") != std::string::npos) {
        return bad_request("give the SRT passphrase once, as --publish-secret, not in the URL",
                           "bad_listen_url");
      }
      plan.options.emplace_back("passphrase", std::string(secret));
    }
  } else {
    plan.options.emplace_back("listen", "1");
    plan.handshake_deadline = true;
  }
  if (rtmp && !secret.empty()) {
    // OBS's Server field is rtmp://HOST:1935/APP and its Stream Key the stream name: the
    // listener names the app, the secret is the name libav compares.
    std::string_view path = u.path;
    while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    if (path.size() < 2 || path.find('/', 1) != std::string_view::npos || !u.query.empty()) {
      return bad_request(
          "with --publish-secret give the RTMP listener as rtmp://HOST:PORT/APP (for example "
          "rtmp://0.0.0.0:1935/live): the stream name is the secret",
          "bad_listen_url");
    }
    std::string_view base = url;
    while (!base.empty() && base.back() == '/') base.remove_suffix(1);
    plan.open_url = std::string(base) + "/" + std::string(secret);
    plan.check_stream_name = true;
  }
  return plan;
}

}  // namespace ds::worker
