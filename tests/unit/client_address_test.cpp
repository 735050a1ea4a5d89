#include "domain/client_address.hpp"

#include <gtest/gtest.h>

using namespace ds::domain;

namespace {

std::vector<Cidr> cidrs(std::initializer_list<const char*> list) {
  std::vector<Cidr> out;
  for (auto s : list) {
    auto c = parse_cidr(s);
    EXPECT_TRUE(c) << s;
    if (c) out.push_back(*c);
  }
  return out;
}

std::string resolve(std::string_view peer, std::vector<std::string_view> xff,
                    const std::vector<Cidr>& trusted) {
  return resolve_client_address(peer, xff, trusted);
}

}  // namespace

TEST(ClientAddress, ParsesIpv4AndIpv6WithOrWithoutPorts) {
  EXPECT_EQ(format_ip(*parse_ip("1.2.3.4")), "1.2.3.4");
  EXPECT_EQ(format_ip(*parse_ip(" 1.2.3.4:5678 ")), "1.2.3.4");
  EXPECT_EQ(format_ip(*parse_ip("2001:DB8:0:0::1")), "2001:db8::1");
  EXPECT_EQ(format_ip(*parse_ip("[2001:db8::1]:443")), "2001:db8::1");
  EXPECT_EQ(format_ip(*parse_ip("[::1]")), "::1");
}

TEST(ClientAddress, Ipv4MappedIpv6IsTheIpv4Address) {
  auto a = parse_ip("::ffff:10.1.2.3");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->v4);
  EXPECT_EQ(format_ip(*a), "10.1.2.3");
  EXPECT_EQ(*a, *parse_ip("10.1.2.3"));
  EXPECT_TRUE(parse_cidr("10.0.0.0/8")->contains(*a));
}

TEST(ClientAddress, RejectsMalformedAddresses) {
  for (const char* bad : {"", " ", "unknown", "example.com", "1.2.3", "1.2.3.4.5", "256.1.1.1",
                          "1.2.3.4:", "1.2.3.4:port", "1.2.3.4:123456", "[1.2.3.4", "[::1]x",
                          "[::1]:", "fe80::1%eth0", "1.2.3.4/32", "_hidden", "::1::2", "1.2.3.4\n",
                          "1.2.3.4 5.6.7.8"}) {
    EXPECT_FALSE(parse_ip(bad)) << bad;
  }
}

TEST(ClientAddress, CidrContainment) {
  auto v4 = *parse_cidr("192.168.1.77/24");
  EXPECT_TRUE(v4.contains(*parse_ip("192.168.1.1")));
  EXPECT_FALSE(v4.contains(*parse_ip("192.168.2.1")));
  auto odd = *parse_cidr("10.0.0.0/13");
  EXPECT_TRUE(odd.contains(*parse_ip("10.7.255.255")));
  EXPECT_FALSE(odd.contains(*parse_ip("10.8.0.0")));
  auto v6 = *parse_cidr("2001:db8::/32");
  EXPECT_TRUE(v6.contains(*parse_ip("2001:db8:ffff::1")));
  EXPECT_FALSE(v6.contains(*parse_ip("2001:db9::1")));
  EXPECT_FALSE(v6.contains(*parse_ip("1.2.3.4")));
  auto host = *parse_cidr("127.0.0.1");
  EXPECT_EQ(host.prefix_bits, 32);
  EXPECT_TRUE(host.contains(*parse_ip("127.0.0.1")));
  EXPECT_FALSE(host.contains(*parse_ip("127.0.0.2")));
  EXPECT_TRUE(parse_cidr("0.0.0.0/0")->contains(*parse_ip("8.8.8.8")));
  EXPECT_FALSE(parse_cidr("0.0.0.0/0")->contains(*parse_ip("::2")));
  EXPECT_TRUE(parse_cidr("::/0")->contains(*parse_ip("2001:db8::5")));
}

TEST(ClientAddress, RejectsMalformedCidrs) {
  for (const char* bad :
       {"", "/8", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/-1", "10.0.0.0/8/8", "[::1]/128",
        "10.0.0.0:80/8", "10.0.0.0/ 8", "ten/8", "10.0.0.0/0x8"}) {
    EXPECT_FALSE(parse_cidr(bad)) << bad;
  }
}

TEST(ClientAddress, ForwardedForIsIgnoredFromAnUntrustedPeer) {
  auto trusted = cidrs({"127.0.0.1/32"});
  EXPECT_EQ(resolve("203.0.113.9", {"1.1.1.1"}, trusted), "203.0.113.9");
  EXPECT_EQ(resolve("203.0.113.9", {"1.1.1.1"}, {}), "203.0.113.9");
  EXPECT_EQ(resolve("127.0.0.1", {"1.1.1.1"}, {}), "127.0.0.1");
}

TEST(ClientAddress, TrustedPeerYieldsTheRightmostUntrustedEntry) {
  auto trusted = cidrs({"127.0.0.1/32", "10.0.0.0/8"});
  // The client wrote "6.6.6.6" itself; the proxies appended what they saw.
  EXPECT_EQ(resolve("127.0.0.1", {"6.6.6.6, 198.51.100.7, 10.0.0.5"}, trusted), "198.51.100.7");
  EXPECT_EQ(resolve("127.0.0.1", {"198.51.100.7"}, trusted), "198.51.100.7");
  EXPECT_EQ(resolve("::ffff:127.0.0.1", {"198.51.100.7:5555"}, trusted), "198.51.100.7");
}

TEST(ClientAddress, SeveralHeaderLinesAreOneList) {
  auto trusted = cidrs({"127.0.0.1/32", "10.0.0.0/8"});
  EXPECT_EQ(resolve("127.0.0.1", {"198.51.100.7", "10.0.0.5"}, trusted), "198.51.100.7");
  EXPECT_EQ(resolve("127.0.0.1", {"6.6.6.6", "198.51.100.7, 10.0.0.5", ""}, trusted),
            "198.51.100.7");
}

TEST(ClientAddress, MalformedEntryStopsTheWalkAtTheLastHopRead) {
  auto trusted = cidrs({"127.0.0.1/32", "10.0.0.0/8"});
  EXPECT_EQ(resolve("127.0.0.1", {"garbage"}, trusted), "127.0.0.1");
  EXPECT_EQ(resolve("127.0.0.1", {"198.51.100.7, unknown, 10.0.0.5"}, trusted), "10.0.0.5");
  EXPECT_EQ(resolve("127.0.0.1", {"1.2.3.4\r\nX-Evil: 1"}, trusted), "127.0.0.1");
}

TEST(ClientAddress, SpacesAndEmptyEntriesAreTolerated) {
  auto trusted = cidrs({"127.0.0.1/32"});
  EXPECT_EQ(resolve("127.0.0.1", {"  198.51.100.7  ,,  "}, trusted), "198.51.100.7");
  EXPECT_EQ(resolve("127.0.0.1", {""}, trusted), "127.0.0.1");
  EXPECT_EQ(resolve("127.0.0.1", {}, trusted), "127.0.0.1");
}

TEST(ClientAddress, Ipv6ProxiesAndClients) {
  auto trusted = cidrs({"::1/128", "fd00::/8"});
  EXPECT_EQ(resolve("::1", {"2001:db8::7, fd00::2"}, trusted), "2001:db8::7");
  EXPECT_EQ(resolve("::1", {"[2001:DB8::7]:4711"}, trusted), "2001:db8::7");
  EXPECT_EQ(resolve("fd00::9", {"198.51.100.7"}, trusted), "198.51.100.7");
  EXPECT_EQ(resolve("2001:db8::1", {"198.51.100.7"}, trusted), "2001:db8::1");
}

TEST(ClientAddress, AllHopsTrustedGivesTheLeftmost) {
  auto trusted = cidrs({"10.0.0.0/8", "127.0.0.1"});
  EXPECT_EQ(resolve("127.0.0.1", {"10.0.0.1, 10.0.0.2"}, trusted), "10.0.0.1");
}

TEST(ClientAddress, UnparsablePeerIsReturnedAsGiven) {
  EXPECT_EQ(resolve("", {"1.2.3.4"}, cidrs({"0.0.0.0/0"})), "");
}

TEST(ClientAddress, Loopback) {
  EXPECT_TRUE(is_loopback("127.0.0.1"));
  EXPECT_TRUE(is_loopback("127.8.9.10"));
  EXPECT_TRUE(is_loopback("::1"));
  EXPECT_TRUE(is_loopback("::ffff:127.0.0.1"));
  EXPECT_FALSE(is_loopback("10.0.0.1"));
  EXPECT_FALSE(is_loopback("::2"));
  EXPECT_FALSE(is_loopback("localhost"));
}

TEST(ClientAddress, LimitsCountIpv6PerSlash64) {
  EXPECT_EQ(address_bucket("203.0.113.5"), "203.0.113.5");
  EXPECT_EQ(address_bucket("::ffff:203.0.113.5"), "203.0.113.5");
  EXPECT_EQ(address_bucket("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  EXPECT_EQ(address_bucket("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::/64");
  EXPECT_NE(address_bucket("2001:db8:1:3::1"), address_bucket("2001:db8:1:2::1"));
  EXPECT_EQ(address_bucket("not-an-address"), "not-an-address");
}
