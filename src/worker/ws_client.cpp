#include "worker/ws_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <nlohmann/json.hpp>

namespace ds::worker {
namespace {

using asio::redirect_error;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

constexpr std::size_t kMaxMessageBytes = 64 * 1024 * 1024;

template <class Ws>
void configure(Ws& ws, std::string bearer, std::string user_agent,
               std::chrono::milliseconds timeout) {
  websocket::stream_base::timeout t;
  t.handshake_timeout = timeout;  // also bounds the closing handshake
  // Pings when the line is quiet for half this, gives up after all of it: a server that vanished
  // without a FIN is noticed.
  t.idle_timeout = std::chrono::seconds(20);
  t.keep_alive_pings = true;
  ws.set_option(t);
  ws.set_option(
      websocket::stream_base::decorator([auth = "Bearer " + std::move(bearer),
                                         ua = std::move(user_agent)](websocket::request_type& req) {
        req.set(beast::http::field::user_agent, ua);
        if (auth.size() > 7) req.set(beast::http::field::authorization, auth);
      }));
  ws.auto_fragment(false);
  ws.read_message_max(kMaxMessageBytes);
}

std::string rejection_message(const websocket::response_type& res) {
  auto body = nlohmann::json::parse(res.body(), nullptr, false);
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    const auto& e = body["error"];
    if (e.contains("message") && e["message"].is_string()) return e["message"].get<std::string>();
  }
  std::string raw = res.body().substr(0, 200);
  if (raw.empty()) raw = std::string(res.reason());
  return raw;
}

}  // namespace

WsClient::WsClient(asio::any_io_executor executor) : executor_(std::move(executor)) {}

WsClient::~WsClient() = default;

asio::awaitable<beast::error_code> WsClient::connect(const WsUrl& url, std::string bearer,
                                                     std::string user_agent,
                                                     std::chrono::milliseconds timeout) {
  beast::error_code ec;
  http_status_ = 0;
  rejection_.clear();
  tcp::resolver resolver(executor_);
  auto endpoints =
      co_await resolver.async_resolve(url.host, url.port, redirect_error(use_awaitable, ec));
  if (ec) co_return ec;

  websocket::response_type res;
  if (!url.tls) {
    plain_ = std::make_unique<Plain>(executor_);
    auto& tcp_layer = beast::get_lowest_layer(*plain_);
    tcp_layer.expires_after(timeout);
    co_await tcp_layer.async_connect(endpoints, redirect_error(use_awaitable, ec));
    if (ec) co_return ec;
    tcp_layer.expires_never();  // the websocket's own timeouts take over
    tcp_layer.socket().set_option(tcp::no_delay(true), ec);
    configure(*plain_, std::move(bearer), std::move(user_agent), timeout);
    co_await plain_->async_handshake(res, url.host_header(), url.target,
                                     redirect_error(use_awaitable, ec));
  } else {
    ssl_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    ssl_->set_default_verify_paths(ec);
    ssl_->set_verify_mode(asio::ssl::verify_peer);
    tls_ = std::make_unique<Tls>(executor_, *ssl_);
    auto& tcp_layer = beast::get_lowest_layer(*tls_);
    tcp_layer.expires_after(timeout);
    co_await tcp_layer.async_connect(endpoints, redirect_error(use_awaitable, ec));
    if (ec) co_return ec;
    tcp_layer.socket().set_option(tcp::no_delay(true), ec);
    auto& ssl_stream = tls_->next_layer();
    if (!SSL_set_tlsext_host_name(ssl_stream.native_handle(), url.host.c_str())) {
      co_return beast::error_code(static_cast<int>(::ERR_get_error()),
                                  asio::error::get_ssl_category());
    }
    ssl_stream.set_verify_callback(asio::ssl::host_name_verification(url.host));
    co_await ssl_stream.async_handshake(asio::ssl::stream_base::client,
                                        redirect_error(use_awaitable, ec));
    if (ec) co_return ec;
    tcp_layer.expires_never();
    configure(*tls_, std::move(bearer), std::move(user_agent), timeout);
    co_await tls_->async_handshake(res, url.host_header(), url.target,
                                   redirect_error(use_awaitable, ec));
  }
  if (ec) {
    http_status_ = res.result_int();
    if (http_status_ != 0) rejection_ = rejection_message(res);
  }
  co_return ec;
}

asio::awaitable<beast::error_code> WsClient::write(std::string_view data, bool binary) {
  beast::error_code ec;
  auto buffer = asio::buffer(data.data(), data.size());
  if (plain_) {
    plain_->binary(binary);
    co_await plain_->async_write(buffer, redirect_error(use_awaitable, ec));
  } else if (tls_) {
    tls_->binary(binary);
    co_await tls_->async_write(buffer, redirect_error(use_awaitable, ec));
  } else {
    ec = asio::error::not_connected;
  }
  co_return ec;
}

asio::awaitable<beast::error_code> WsClient::read(beast::flat_buffer& buffer, bool& binary) {
  beast::error_code ec;
  if (plain_) {
    co_await plain_->async_read(buffer, redirect_error(use_awaitable, ec));
    binary = plain_->got_binary();
  } else if (tls_) {
    co_await tls_->async_read(buffer, redirect_error(use_awaitable, ec));
    binary = tls_->got_binary();
  } else {
    ec = asio::error::not_connected;
  }
  co_return ec;
}

asio::awaitable<beast::error_code> WsClient::close(websocket::close_code code,
                                                   std::string_view reason) {
  beast::error_code ec;
  websocket::close_reason cr(code, reason);
  if (plain_ && plain_->is_open()) {
    co_await plain_->async_close(cr, redirect_error(use_awaitable, ec));
  } else if (tls_ && tls_->is_open()) {
    co_await tls_->async_close(cr, redirect_error(use_awaitable, ec));
  }
  co_return ec;
}

void WsClient::force_close() {
  beast::error_code ec;
  if (plain_) beast::get_lowest_layer(*plain_).socket().close(ec);
  if (tls_) beast::get_lowest_layer(*tls_).socket().close(ec);
}

bool WsClient::is_open() const {
  return (plain_ && plain_->is_open()) || (tls_ && tls_->is_open());
}

websocket::close_reason WsClient::reason() const {
  if (plain_) return plain_->reason();
  if (tls_) return tls_->reason();
  return {};
}

}  // namespace ds::worker
