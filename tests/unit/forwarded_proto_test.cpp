// to_api_request: what a trusted proxy may say about the client (net/server.hpp).
#include <gtest/gtest.h>

#include "net/server.hpp"

using namespace ds;

namespace {

net::HttpRequest request_with(std::vector<std::pair<std::string, std::string>> headers) {
  net::HttpRequest req{net::http::verb::get, "/ws/watch/alice", 11};
  for (auto& [k, v] : headers) req.set(k, v);
  return req;
}

std::vector<domain::Cidr> loopback_proxy() { return {*domain::parse_cidr("127.0.0.1/32")}; }

}  // namespace

TEST(ForwardedProto, HttpsIsBelievedOnlyFromATrustedProxy) {
  auto req = request_with({{"X-Forwarded-Proto", "https"}, {"X-Forwarded-For", "203.0.113.5"}});
  auto via_proxy = net::to_api_request(req, "127.0.0.1", loopback_proxy());
  EXPECT_TRUE(via_proxy.https);
  EXPECT_EQ(via_proxy.remote_addr, "203.0.113.5");
  EXPECT_FALSE(net::to_api_request(req, "198.51.100.1", loopback_proxy()).https);
  EXPECT_FALSE(net::to_api_request(req, "127.0.0.1", {}).https);
}

TEST(ForwardedProto, TheFirstHopsSchemeCountsInAnyCase) {
  auto tls = net::to_api_request(request_with({{"X-Forwarded-Proto", " HTTPS , http"}}),
                                 "127.0.0.1", loopback_proxy());
  EXPECT_TRUE(tls.https);
  auto plain = net::to_api_request(request_with({{"X-Forwarded-Proto", "http, https"}}),
                                   "127.0.0.1", loopback_proxy());
  EXPECT_FALSE(plain.https);
  EXPECT_FALSE(net::to_api_request(request_with({}), "127.0.0.1", loopback_proxy()).https);
}

TEST(ForwardedProto, HstsFollowsThePublicUrlOrATlsProxy) {
  net::ServerOptions options;
  api::Request plain;
  EXPECT_FALSE(net::wants_hsts(options, plain));
  api::Request tls;
  tls.https = true;
  EXPECT_TRUE(net::wants_hsts(options, tls));
  options.hsts = true;
  EXPECT_TRUE(net::wants_hsts(options, plain));
  options.trusted_proxies = loopback_proxy();
  EXPECT_TRUE(net::is_trusted_proxy(options, "127.0.0.1"));
  EXPECT_FALSE(net::is_trusted_proxy(options, "127.0.0.2"));
  EXPECT_FALSE(net::is_trusted_proxy(options, "not an address"));
}
