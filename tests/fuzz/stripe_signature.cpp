// Fuzzes the Stripe-Signature header check (ds::payments::verify_stripe_signature): an
// arbitrary header never verifies, and a correct signature verifies whatever other entries
// surround it, but only for its own payload and within the tolerance.
//
// Input: bytes 0-1 move the signature's time (±32767 s), then header junk, '\n', payload.
#include "payments/stripe_signature.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "check.hpp"

namespace {

using ds::payments::SignatureCheck;

constexpr std::string_view kSecret = "whsec_fuzz";
constexpr std::int64_t kNow = 1'700'000'000;
constexpr std::int64_t kTolerance = ds::payments::kSignatureToleranceSeconds;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  auto delta = static_cast<std::int16_t>(data[0] | (data[1] << 8));
  std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  auto nl = rest.find('\n');
  std::string_view junk = rest.substr(0, nl);
  std::string_view payload =
      nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);

  // Junk alone cannot carry a valid signature (the fuzzer cannot compute the HMAC).
  auto r = ds::payments::verify_stripe_signature(junk, payload, kSecret, kNow);
  DS_FUZZ_CHECK(r != SignatureCheck::kValid, ds::payments::to_string(r));

  // The right signature, after whatever junk: later t= entries win, extra v1 entries are fine.
  std::int64_t t = kNow + delta;
  std::string header(junk);
  header +=
      ",t=" + std::to_string(t) + ",v1=" + ds::payments::stripe_v1_signature(kSecret, t, payload);
  bool in_time = delta >= -kTolerance && delta <= kTolerance;
  r = ds::payments::verify_stripe_signature(header, payload, kSecret, kNow);
  DS_FUZZ_CHECK(r == (in_time ? SignatureCheck::kValid : SignatureCheck::kOutsideTolerance),
                ds::payments::to_string(r));

  // The same header does not cover another payload, nor the same payload under another secret.
  std::string other(payload);
  other.push_back('x');
  r = ds::payments::verify_stripe_signature(header, other, kSecret, kNow);
  DS_FUZZ_CHECK(r == SignatureCheck::kNoMatch, ds::payments::to_string(r));
  r = ds::payments::verify_stripe_signature(header, payload, "whsec_other", kNow);
  DS_FUZZ_CHECK(r == SignatureCheck::kNoMatch, ds::payments::to_string(r));
  return 0;
}
