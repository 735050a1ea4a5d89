#include "domain/username.hpp"

#include <gtest/gtest.h>

using ds::domain::canonical_username;

TEST(Username, AcceptsAllowedCharactersAndLowercases) {
  EXPECT_EQ(canonical_username("Alice_99-x"), "alice_99-x");
}

TEST(Username, RejectsTooShortAndTooLong) {
  EXPECT_FALSE(canonical_username("ab"));
  EXPECT_TRUE(canonical_username("abc"));
  EXPECT_TRUE(canonical_username(std::string(30, 'a')));
  EXPECT_FALSE(canonical_username(std::string(31, 'a')));
  EXPECT_FALSE(canonical_username(""));
}

TEST(Username, RejectsDisallowedCharacters) {
  for (const char* bad : {"al ice", "al.ice", "alice!", "ålice", "al/ice", "<script>", "a\nb",
                          "alice@x", "~deleted-1", "al%20", " alice", "alice "}) {
    EXPECT_FALSE(canonical_username(bad)) << bad;
  }
}

TEST(Username, RejectsEmbeddedNul) { EXPECT_FALSE(canonical_username(std::string("ab\0cd", 5))); }

TEST(Username, DifferentCasesShareOneCanonicalForm) {
  EXPECT_EQ(canonical_username("ALICE"), canonical_username("alice"));
  EXPECT_EQ(canonical_username("AlIcE"), "alice");
}

TEST(Username, AllowsDigitsUnderscoreAndHyphenAnywhere) {
  EXPECT_EQ(canonical_username("123"), "123");
  EXPECT_EQ(canonical_username("___"), "___");
  EXPECT_EQ(canonical_username("-a-"), "-a-");
}

TEST(Username, LengthIsCheckedInBytesSoMultibyteCannotSneakIn) {
  // 15 two-byte characters are 30 bytes; they must be refused for the characters, not counted
  // as 15 characters.
  std::string s;
  for (int i = 0; i < 15; ++i) s += "\xC3\xA9";
  EXPECT_FALSE(canonical_username(s));
}

TEST(Username, RejectsNamesThatShadowStreamRoutes) {
  for (const char* reserved : {"sessions", "settings", "live", "start", "stop", "Settings"}) {
    EXPECT_FALSE(canonical_username(reserved)) << reserved;
  }
}
