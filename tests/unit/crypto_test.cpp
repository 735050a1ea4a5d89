#include "auth/crypto.hpp"

#include <gtest/gtest.h>

#include <set>

using namespace ds::auth;

namespace {

class CryptoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { init_crypto(); }
};

}  // namespace

TEST_F(CryptoTest, PasswordHashIsArgon2id) {
  auto h = hash_password("correct horse battery");
  EXPECT_TRUE(h.starts_with("$argon2id$")) << h;
}

TEST_F(CryptoTest, PasswordVerifiesOnlyWithTheSamePassword) {
  auto h = hash_password("correct horse battery");
  EXPECT_TRUE(verify_password(h, "correct horse battery"));
  EXPECT_FALSE(verify_password(h, "correct horse batterY"));
  EXPECT_FALSE(verify_password(h, ""));
}

TEST_F(CryptoTest, SamePasswordHashesDifferentlyEachTime) {
  EXPECT_NE(hash_password("same password!"), hash_password("same password!"));
}

TEST_F(CryptoTest, PasswordWithEmbeddedNulIsNotTruncated) {
  std::string with_nul("abc\0defghijk", 12);
  auto h = hash_password(with_nul);
  EXPECT_TRUE(verify_password(h, with_nul));
  EXPECT_FALSE(verify_password(h, "abc"));
}

TEST_F(CryptoTest, VerifyRejectsGarbageAndEmptyHashes) {
  EXPECT_FALSE(verify_password("", "anything"));
  EXPECT_FALSE(verify_password("not a hash", "anything"));
  EXPECT_FALSE(verify_password("$argon2id$v=19$m=1,t=1,p=1$xx$yy", "anything"));
}

TEST_F(CryptoTest, RandomTokenHasPrefixAnd256BitsOfUrlSafeBase64) {
  auto t = random_token("dss_");
  ASSERT_TRUE(t.starts_with("dss_"));
  auto body = t.substr(4);
  EXPECT_EQ(body.size(), 43u);  // ceil(32 * 8 / 6) without padding
  EXPECT_EQ(
      body.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
      std::string::npos);
}

TEST_F(CryptoTest, RandomTokensDoNotRepeat) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(random_token("x_"));
  EXPECT_EQ(seen.size(), 1000u);
}

TEST_F(CryptoTest, Sha256HexMatchesKnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(CryptoTest, ConstantTimeEqualComparesContentAndLength) {
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
  EXPECT_TRUE(constant_time_equal("", ""));
}
