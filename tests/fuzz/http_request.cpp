// Fuzzes what an anonymous client can send on a connection: raw bytes through Beast's
// request parser (with the server's header and per-path body limits), net::to_api_request,
// the static pages or api::dispatch, and the response as the session would write it.
//
// Up to kMaxPipelined requests per input are read one after another, as on a keep-alive
// connection. "@SESSION@", "@TOKEN@" and "@KEY@" in the input are replaced by the fuzz user's
// session cookie value, API token and stream key, so seeds can reach authenticated handlers.
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>

#include "fuzz_app.hpp"
#include "net/server.hpp"
#include "net/static_assets.hpp"

namespace {

using namespace ds;
namespace beast = boost::beast;
namespace http = beast::http;

constexpr int kMaxPipelined = 3;

// As serve.cpp configures the server.
const net::ServerOptions kOptions;
const domain::JpegLimits kFrameLimits;

std::size_t body_limit_for(std::string_view path) {
  if (path.starts_with("/api/ingest/frame")) return kFrameLimits.max_bytes + 1;
  return kOptions.max_body_bytes;
}

fuzz::FuzzApp& the_app() {
  static auto* app = new fuzz::FuzzApp();
  return *app;
}

void replace_all(std::string& s, std::string_view from, const std::string& to) {
  for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
}

// What HttpSession::send does with an answer (Beast must be able to serialise it).
void write_response(api::Response&& res, unsigned version, bool keep_alive) {
  http::response<http::string_body> out{static_cast<http::status>(res.status), version};
  out.set(http::field::server, "dreamstream");
  if (!res.content_type.empty()) out.set(http::field::content_type, res.content_type);
  for (auto& [k, v] : res.headers) out.insert(k, v);
  net::apply_security_headers(out);
  out.keep_alive(keep_alive);
  out.body() = std::move(res.body);
  out.prepare_payload();
  std::ostringstream wire;
  wire << out;
  DS_FUZZ_CHECK(wire.str().starts_with("HTTP/1."), wire.str().substr(0, 100));
}

// Reads one request from the front of `in`; false when there is none to answer.
bool handle_one(fuzz::FuzzApp& app, std::string_view& in) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(kOptions.max_header_bytes));
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  parser.eager(false);
  beast::error_code ec;
  while (!parser.is_header_done()) {
    auto used = parser.put(boost::asio::buffer(in.data(), in.size()), ec);
    in.remove_prefix(used);
    if (ec) return false;  // malformed or too large: the session answers 400/431 and closes
    if (used == 0) return false;
  }
  auto target = parser.get().target();
  auto limit = body_limit_for(target.substr(0, target.find('?')));
  if (auto len = parser.content_length(); len && *len > limit) return false;  // 413
  parser.body_limit(limit);
  parser.eager(true);
  while (!parser.is_done()) {
    auto used = parser.put(boost::asio::buffer(in.data(), in.size()), ec);
    in.remove_prefix(used);
    if (ec == http::error::need_more && in.empty()) return false;  // the client still sends
    if (ec) return false;
    if (used == 0) return false;
  }
  auto req = parser.release();
  DS_FUZZ_CHECK(req.body().size() <= limit, std::to_string(req.body().size()));

  api::Request info = net::to_api_request(req, "127.0.0.1");
  DS_FUZZ_CHECK(!info.method.empty(), info.target);
  DS_FUZZ_CHECK(info.query.empty() || info.target.find('?') != std::string::npos, info.target);
  for (const auto& [name, value] : info.headers) {
    for (char c : name) DS_FUZZ_CHECK(!(c >= 'A' && c <= 'Z'), name);
  }

  bool is_api = info.path.starts_with("/api/") || info.path == "/healthz";
  if (!is_api && (info.method == "GET" || info.method == "HEAD")) {
    static const net::StaticAssets assets;
    auto asset = info.path.starts_with("/static/") ? assets.find(info.path.substr(7))
                                                   : assets.page_for(info.path);
    if (asset) {
      DS_FUZZ_CHECK(!asset->content_type.empty(), info.path);
      return req.keep_alive();
    }
  }
  auto res = app.dispatch(info);
  fuzz::check_response(info, res);
  write_response(std::move(res), req.version(), req.keep_alive());
  return req.keep_alive();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  the_app();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& app = the_app();
  app.ensure_user();
  std::string bytes(reinterpret_cast<const char*>(data), size);
  if (bytes.find('@') != std::string::npos) {
    replace_all(bytes, "@SESSION@", app.session_cookie());
    replace_all(bytes, "@TOKEN@", app.api_token());
    replace_all(bytes, "@KEY@", app.stream_key());
  }
  std::string_view in = bytes;
  for (int i = 0; i < kMaxPipelined && !in.empty(); ++i) {
    if (!handle_one(app, in)) break;
  }
  return 0;
}
