#include <gtest/gtest.h>

#include "domain/username.hpp"

using ds::domain::canonical_username;

TEST(Username, AcceptsAllowedCharactersAndLowercases) {
  EXPECT_EQ(canonical_username("Alice_99-x"), "alice_99-x");
}

TEST(Username, RejectsTooShortAndTooLong) {
  EXPECT_FALSE(canonical_username("ab"));
  EXPECT_TRUE(canonical_username("abc"));
  EXPECT_TRUE(canonical_username(std::string(30, 'a')));
  EXPECT_FALSE(canonical_username(std::string(31, 'a')));
}

TEST(Username, RejectsDisallowedCharacters) {
  for (const char* bad : {"al ice", "al.ice", "alice!", "ålice", "al/ice", "<script>", "a\nb"}) {
    EXPECT_FALSE(canonical_username(bad)) << bad;
  }
}
