// Stripe webhook signatures: parsing and checking the Stripe-Signature header (v1 scheme).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ds::payments {

inline constexpr std::int64_t kSignatureToleranceSeconds = 300;

enum class SignatureCheck {
  kValid,
  kMalformedHeader,  // no parsable t=, or no v1= entry at all
  kNoMatch,          // no v1 entry matches the expected signature
  kOutsideTolerance  // the signature matches but t is too old (or too far in the future)
};

const char* to_string(SignatureCheck check);

// Checks the header "t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=…]" against the raw payload:
// each v1 is compared in constant time with hex(HMAC-SHA256(secret, "<t>.<payload>")), and
// t must lie within tolerance_s of now_s in either direction.
SignatureCheck verify_stripe_signature(std::string_view header, std::string_view payload,
                                       std::string_view secret, std::int64_t now_s,
                                       std::int64_t tolerance_s = kSignatureToleranceSeconds);

// hex(HMAC-SHA256(secret, "<t>.<payload>")): what Stripe puts in v1 (tests sign with it).
std::string stripe_v1_signature(std::string_view secret, std::int64_t t, std::string_view payload);

}  // namespace ds::payments
