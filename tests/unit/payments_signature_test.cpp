// Stripe-Signature verification: the vectors Stripe's own libraries are tested with, in kind.
#include <gtest/gtest.h>

#include <vector>

#include "payments/stripe_signature.hpp"

namespace ds::payments {
namespace {

constexpr const char* kSecret = "whsec_test_secret";
constexpr const char* kPayload = R"({"id":"evt_1","object":"event"})";
constexpr std::int64_t kT = 1'700'000'000;
// hmac.new(b"whsec_test_secret", b"1700000000." + payload, hashlib.sha256).hexdigest(), from
// Python, so the implementation is checked against an independent one.
constexpr const char* kKnownV1 = "0c8670ed117751cc551a20e35839447075c42800ea3cf3e8a2fbda99cd1e6edd";

std::string header(std::int64_t t, const std::string& v1) {
  return "t=" + std::to_string(t) + ",v1=" + v1;
}

TEST(StripeSignature, MatchesAnIndependentHmacSha256) {
  EXPECT_EQ(stripe_v1_signature(kSecret, kT, kPayload), kKnownV1);
}

TEST(StripeSignature, AcceptsAValidSignature) {
  EXPECT_EQ(verify_stripe_signature(header(kT, kKnownV1), kPayload, kSecret, kT),
            SignatureCheck::kValid);
}

TEST(StripeSignature, AcceptsWithinToleranceBothWays) {
  EXPECT_EQ(verify_stripe_signature(header(kT, kKnownV1), kPayload, kSecret, kT + 300),
            SignatureCheck::kValid);
  EXPECT_EQ(verify_stripe_signature(header(kT, kKnownV1), kPayload, kSecret, kT - 300),
            SignatureCheck::kValid);
}

TEST(StripeSignature, RejectsAWrongSecret) {
  auto v1 = stripe_v1_signature("whsec_other", kT, kPayload);
  EXPECT_EQ(verify_stripe_signature(header(kT, v1), kPayload, kSecret, kT),
            SignatureCheck::kNoMatch);
}

TEST(StripeSignature, RejectsAStaleTimestamp) {
  EXPECT_EQ(verify_stripe_signature(header(kT, kKnownV1), kPayload, kSecret, kT + 301),
            SignatureCheck::kOutsideTolerance);
}

TEST(StripeSignature, RejectsATimestampTooFarInTheFuture) {
  EXPECT_EQ(verify_stripe_signature(header(kT, kKnownV1), kPayload, kSecret, kT - 301),
            SignatureCheck::kOutsideTolerance);
}

TEST(StripeSignature, RejectsATimestampThatWasNotSigned) {
  // Moving t to "now" to dodge the tolerance breaks the signature.
  EXPECT_EQ(verify_stripe_signature(header(kT + 1000, kKnownV1), kPayload, kSecret, kT + 1000),
            SignatureCheck::kNoMatch);
}

TEST(StripeSignature, AcceptsWhenOneOfSeveralV1ValuesMatches) {
  // During secret rolling Stripe sends one v1 per active secret, plus v0 test signatures.
  std::string h = "t=" + std::to_string(kT) + ",v1=" + std::string(64, 'a') +
                  ",v0=" + std::string(64, 'b') + ",v1=" + kKnownV1 + ",v1=" + std::string(64, 'c');
  EXPECT_EQ(verify_stripe_signature(h, kPayload, kSecret, kT), SignatureCheck::kValid);
}

TEST(StripeSignature, RejectsWhenNoneOfSeveralV1ValuesMatches) {
  std::string h = "t=" + std::to_string(kT) + ",v1=" + std::string(64, 'a') +
                  ",v1=" + stripe_v1_signature("whsec_other", kT, kPayload);
  EXPECT_EQ(verify_stripe_signature(h, kPayload, kSecret, kT), SignatureCheck::kNoMatch);
}

TEST(StripeSignature, IgnoresAV0OnlySignature) {
  std::string h = "t=" + std::to_string(kT) + ",v0=" + kKnownV1;
  EXPECT_EQ(verify_stripe_signature(h, kPayload, kSecret, kT), SignatureCheck::kMalformedHeader);
}

TEST(StripeSignature, RejectsMalformedHeaders) {
  const std::string v1 = kKnownV1;
  for (const std::string& h : std::vector<std::string>{"", "garbage", "t=,v1=" + v1, "v1=" + v1,
                                                       "t=abc,v1=" + v1, "t=1700000000x,v1=" + v1,
                                                       "t=1700000000", "t=1700000000,v1", ",,,"}) {
    EXPECT_EQ(verify_stripe_signature(h, kPayload, kSecret, kT), SignatureCheck::kMalformedHeader)
        << "header: " << h;
  }
}

TEST(StripeSignature, RejectsATruncatedOrUpperCasedSignature) {
  std::string upper = kKnownV1;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(verify_stripe_signature(header(kT, upper), kPayload, kSecret, kT),
            SignatureCheck::kNoMatch);
  EXPECT_EQ(verify_stripe_signature(header(kT, std::string(kKnownV1).substr(0, 63)), kPayload,
                                    kSecret, kT),
            SignatureCheck::kNoMatch);
  EXPECT_EQ(verify_stripe_signature(header(kT, std::string(kKnownV1) + "0"), kPayload, kSecret, kT),
            SignatureCheck::kNoMatch);
}

TEST(StripeSignature, RejectsABodyChangedByOneByte) {
  std::string payload = kPayload;
  for (std::size_t i = 0; i < payload.size(); ++i) {
    std::string changed = payload;
    changed[i] = static_cast<char>(changed[i] ^ 0x01);
    EXPECT_EQ(verify_stripe_signature(header(kT, kKnownV1), changed, kSecret, kT),
              SignatureCheck::kNoMatch)
        << "byte " << i;
  }
  EXPECT_EQ(verify_stripe_signature(header(kT, kKnownV1), payload + " ", kSecret, kT),
            SignatureCheck::kNoMatch);
}

TEST(StripeSignature, ToleratesSpacesAroundItems) {
  std::string h = "t=" + std::to_string(kT) + ", v1=" + kKnownV1;
  EXPECT_EQ(verify_stripe_signature(h, kPayload, kSecret, kT), SignatureCheck::kValid);
}

}  // namespace
}  // namespace ds::payments
