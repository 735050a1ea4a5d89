#include "payments/stripe_signature.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>
#include <vector>

namespace ds::payments {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string to_hex(const unsigned char* data, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i != size; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0xf]);
  }
  return out;
}

}  // namespace

const char* to_string(SignatureCheck check) {
  switch (check) {
    case SignatureCheck::kValid:
      return "valid";
    case SignatureCheck::kMalformedHeader:
      return "malformed_header";
    case SignatureCheck::kNoMatch:
      return "no_match";
    case SignatureCheck::kOutsideTolerance:
      return "outside_tolerance";
  }
  return "unknown";
}

std::string stripe_v1_signature(std::string_view secret, std::int64_t t, std::string_view payload) {
  std::string signed_payload = std::to_string(t);
  signed_payload.push_back('.');
  signed_payload.append(payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signed_payload.data()), signed_payload.size(), mac,
       &mac_len);
  return to_hex(mac, mac_len);
}

SignatureCheck verify_stripe_signature(std::string_view header, std::string_view payload,
                                       std::string_view secret, std::int64_t now_s,
                                       std::int64_t tolerance_s) {
  std::string_view t_text;
  std::vector<std::string_view> v1;
  while (!header.empty()) {
    auto comma = header.find(',');
    auto item = trim(header.substr(0, comma));
    auto eq = item.find('=');
    if (eq != std::string_view::npos) {
      auto key = item.substr(0, eq);
      auto value = item.substr(eq + 1);
      if (key == "t") t_text = value;
      if (key == "v1") v1.push_back(value);
    }
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  std::int64_t t = 0;
  auto [end, ec] = std::from_chars(t_text.data(), t_text.data() + t_text.size(), t);
  if (t_text.empty() || ec != std::errc() || end != t_text.data() + t_text.size() || v1.empty()) {
    return SignatureCheck::kMalformedHeader;
  }

  const std::string expected = stripe_v1_signature(secret, t, payload);
  bool matched = false;
  for (auto candidate : v1) {
    // Lengths are public (always 64 hex digits); only the contents are compared in constant
    // time. Every entry is checked so timing does not reveal which one matched.
    if (candidate.size() == expected.size() &&
        CRYPTO_memcmp(candidate.data(), expected.data(), expected.size()) == 0) {
      matched = true;
    }
  }
  if (!matched) return SignatureCheck::kNoMatch;
  if (t < now_s - tolerance_s || t > now_s + tolerance_s) return SignatureCheck::kOutsideTolerance;
  return SignatureCheck::kValid;
}

}  // namespace ds::payments
