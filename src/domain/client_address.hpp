// The client's address behind reverse proxies: CIDR parsing and a right-to-left walk of
// X-Forwarded-For that trusts only the hops it is told to trust. Pure; no I/O.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ds::domain {

// An IPv4 or IPv6 address; IPv4 and IPv4-mapped IPv6 (::ffff:a.b.c.d) are the same address.
struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};  // IPv4 in the last 4 bytes, as ::ffff:a.b.c.d
  bool v4 = false;

  bool operator==(const IpAddress&) const = default;
};

struct Cidr {
  IpAddress network;
  int prefix_bits = 0;  // counted in the address's own family (0–32 for IPv4, 0–128 for IPv6)

  bool contains(const IpAddress& a) const;
};

// "1.2.3.4", "2001:db8::1", "::ffff:1.2.3.4"; with a port: "1.2.3.4:80", "[2001:db8::1]:443";
// "[::1]". Surrounding spaces are ignored. Anything else (host names, "unknown", zone ids,
// garbage) is nullopt.
std::optional<IpAddress> parse_ip(std::string_view text);

// "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128). Host bits set below the
// prefix are ignored ("10.1.2.3/8" is 10.0.0.0/8). nullopt when malformed.
std::optional<Cidr> parse_cidr(std::string_view text);

// Canonical text: dotted quad for IPv4 (also when it arrived IPv4-mapped), RFC 5952 for IPv6.
std::string format_ip(const IpAddress& a);

bool in_any(const std::vector<Cidr>& cidrs, const IpAddress& a);

// The address a request comes from. peer is the TCP peer; forwarded_for the X-Forwarded-For
// header lines in the order received (several lines are one comma-separated list). Only when
// the peer is trusted is the list read, from the right: trusted hops are skipped and the first
// untrusted address is the client. A malformed entry stops the walk and the last hop that was
// read is the client (an untrusted sender cannot make itself look like someone else by
// writing garbage). When every hop is trusted, the leftmost one is the client. The result is
// canonical (format_ip); a peer that does not parse is returned as given.
std::string resolve_client_address(std::string_view peer,
                                   const std::vector<std::string_view>& forwarded_for,
                                   const std::vector<Cidr>& trusted_proxies);

bool is_loopback(std::string_view address);

// The key under which per-address limits count an address: the address itself for IPv4, its
// /64 for IPv6 (one subscriber usually holds a whole /64). Unparsable input is its own key.
std::string address_bucket(std::string_view address);

}  // namespace ds::domain
