#include "domain/client_address.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace ds::domain {

namespace {

constexpr std::array<std::uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool all_digits(std::string_view s, std::size_t max_len) {
  if (s.empty() || s.size() > max_len) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<IpAddress> parse_v4(std::string_view s) {
  if (s.empty() || s.size() > 15) return std::nullopt;
  std::string text(s);
  IpAddress a;
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) != 1) return std::nullopt;
  std::copy(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), a.bytes.begin());
  std::memcpy(a.bytes.data() + 12, &v4, 4);
  a.v4 = true;
  return a;
}

std::optional<IpAddress> parse_v6(std::string_view s) {
  if (s.empty() || s.size() > 45) return std::nullopt;
  std::string text(s);
  IpAddress a;
  if (inet_pton(AF_INET6, text.c_str(), a.bytes.data()) != 1) return std::nullopt;
  a.v4 = std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), a.bytes.begin());
  return a;
}

}  // namespace

std::optional<IpAddress> parse_ip(std::string_view text) {
  auto s = trim_spaces(text);
  if (s.empty()) return std::nullopt;
  if (s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    auto rest = s.substr(close + 1);
    if (!rest.empty() && !(rest.front() == ':' && all_digits(rest.substr(1), 5)))
      return std::nullopt;
    return parse_v6(s.substr(1, close - 1));
  }
  auto colons = std::count(s.begin(), s.end(), ':');
  if (colons == 0) return parse_v4(s);
  if (colons == 1) {
    auto colon = s.find(':');
    if (!all_digits(s.substr(colon + 1), 5)) return std::nullopt;
    return parse_v4(s.substr(0, colon));
  }
  return parse_v6(s);
}

std::optional<Cidr> parse_cidr(std::string_view text) {
  auto s = trim_spaces(text);
  auto slash = s.find('/');
  auto addr_text = s.substr(0, slash);
  // A CIDR names a network, not an endpoint: no brackets or ports.
  if (addr_text.empty() || addr_text.front() == '[') return std::nullopt;
  std::optional<IpAddress> addr =
      addr_text.find(':') == std::string_view::npos ? parse_v4(addr_text) : parse_v6(addr_text);
  if (!addr) return std::nullopt;
  int max_bits = addr->v4 ? 32 : 128;
  int bits = max_bits;
  if (slash != std::string_view::npos) {
    auto p = s.substr(slash + 1);
    if (!all_digits(p, 3)) return std::nullopt;
    bits = std::stoi(std::string(p));
    if (bits > max_bits) return std::nullopt;
  }
  Cidr c;
  c.prefix_bits = bits;
  c.network = *addr;
  // Clear the host bits so contains() can compare bytes.
  int total = addr->v4 ? 96 + bits : bits;
  for (int i = 0; i < 16; ++i) {
    int keep = std::clamp(total - 8 * i, 0, 8);
    c.network.bytes[i] &= static_cast<std::uint8_t>(keep == 0 ? 0 : 0xff << (8 - keep));
  }
  return c;
}

bool Cidr::contains(const IpAddress& a) const {
  if (a.v4 != network.v4) return false;
  int total = network.v4 ? 96 + prefix_bits : prefix_bits;
  for (int i = 0; i < 16; ++i) {
    int keep = std::clamp(total - 8 * i, 0, 8);
    if (keep == 0) break;
    auto mask = static_cast<std::uint8_t>(0xff << (8 - keep));
    if ((a.bytes[i] & mask) != network.bytes[i]) return false;
  }
  return true;
}

std::string format_ip(const IpAddress& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (a.v4) {
    inet_ntop(AF_INET, a.bytes.data() + 12, buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, a.bytes.data(), buf, sizeof buf);
  }
  return buf;
}

bool in_any(const std::vector<Cidr>& cidrs, const IpAddress& a) {
  return std::any_of(cidrs.begin(), cidrs.end(), [&](const Cidr& c) { return c.contains(a); });
}

std::string resolve_client_address(std::string_view peer,
                                   const std::vector<std::string_view>& forwarded_for,
                                   const std::vector<Cidr>& trusted_proxies) {
  auto peer_ip = parse_ip(peer);
  if (!peer_ip) return std::string(peer);
  IpAddress client = *peer_ip;
  if (!in_any(trusted_proxies, client)) return format_ip(client);
  // Walk every entry of every line, last line last, from the right.
  for (auto line = forwarded_for.rbegin(); line != forwarded_for.rend(); ++line) {
    std::string_view rest = *line;
    while (true) {
      auto comma = rest.rfind(',');
      auto entry = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
      if (!trim_spaces(entry).empty()) {
        auto ip = parse_ip(entry);
        if (!ip) return format_ip(client);
        client = *ip;
        if (!in_any(trusted_proxies, client)) return format_ip(client);
      }
      if (comma == std::string_view::npos) break;
      rest = rest.substr(0, comma);
    }
  }
  return format_ip(client);
}

bool is_loopback(std::string_view address) {
  auto ip = parse_ip(address);
  if (!ip) return false;
  static const Cidr kLoopbackV4 = *parse_cidr("127.0.0.0/8");
  static const Cidr kLoopbackV6 = *parse_cidr("::1/128");
  return kLoopbackV4.contains(*ip) || kLoopbackV6.contains(*ip);
}

std::string address_bucket(std::string_view address) {
  auto ip = parse_ip(address);
  if (!ip) return std::string(address);
  if (ip->v4) return format_ip(*ip);
  std::fill(ip->bytes.begin() + 8, ip->bytes.end(), 0);
  return format_ip(*ip) + "/64";
}

}  // namespace ds::domain
