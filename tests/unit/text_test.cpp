#include "domain/text.hpp"

#include <gtest/gtest.h>

using namespace ds::domain;

TEST(Utf8, AcceptsAsciiAndMultibyteText) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("hello"));
  EXPECT_TRUE(is_valid_utf8("caf\xC3\xA9"));       // é
  EXPECT_TRUE(is_valid_utf8("\xE2\x82\xAC"));      // €
  EXPECT_TRUE(is_valid_utf8("\xF0\x9F\x98\x80"));  // 😀
  EXPECT_TRUE(is_valid_utf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF
}

TEST(Utf8, RejectsTruncatedSequences) {
  EXPECT_FALSE(is_valid_utf8("\xC3"));
  EXPECT_FALSE(is_valid_utf8("\xE2\x82"));
  EXPECT_FALSE(is_valid_utf8("abc\xF0\x9F\x98"));
}

TEST(Utf8, RejectsStrayContinuationAndInvalidLeadBytes) {
  EXPECT_FALSE(is_valid_utf8("\x80"));
  EXPECT_FALSE(
      is_valid_utf8("a\xBF"
                    "b"));
  EXPECT_FALSE(is_valid_utf8("\xFF"));
  EXPECT_FALSE(is_valid_utf8("\xF8\x88\x80\x80\x80"));
  EXPECT_FALSE(is_valid_utf8("\xC3\x28"));  // lead byte followed by a non-continuation
}

TEST(Utf8, RejectsOverlongForms) {
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));  // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xC1\xBF"));
  EXPECT_FALSE(is_valid_utf8("\xE0\x80\xAF"));
  EXPECT_FALSE(is_valid_utf8("\xF0\x80\x80\xAF"));
}

TEST(Utf8, RejectsSurrogatesAndValuesPastUnicode) {
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // U+D800
  EXPECT_FALSE(is_valid_utf8("\xED\xBF\xBF"));      // U+DFFF
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // U+110000
}

TEST(Utf8, LengthCountsCodePoints) {
  EXPECT_EQ(utf8_length(""), 0u);
  EXPECT_EQ(utf8_length("abc"), 3u);
  EXPECT_EQ(utf8_length("caf\xC3\xA9"), 4u);
  EXPECT_EQ(utf8_length("\xF0\x9F\x98\x80\xE2\x82\xAC"), 2u);
}

TEST(Trim, RemovesAsciiWhitespaceAtBothEnds) {
  EXPECT_EQ(trim("  a b \t\r\n"), "a b");
  EXPECT_EQ(trim("\v\fx\f"), "x");
  EXPECT_EQ(trim("   "), "");
  EXPECT_EQ(trim(""), "");
}

TEST(ControlChars, FindsC0AndDel) {
  EXPECT_TRUE(has_control_chars("a\x01", false));
  EXPECT_TRUE(has_control_chars("a\x7F", false));
  EXPECT_TRUE(has_control_chars(std::string("a\0b", 3), false));
  EXPECT_FALSE(has_control_chars("plain text", false));
}

TEST(ControlChars, NewlinesAndTabsOnlyWhenAllowed) {
  EXPECT_TRUE(has_control_chars("a\nb", false));
  EXPECT_TRUE(has_control_chars("a\tb", false));
  EXPECT_FALSE(has_control_chars("a\nb\tc\r", true));
  EXPECT_TRUE(has_control_chars("a\nb\x1B", true));
}

TEST(CleanText, TrimsAndChecksLengthInCodePoints) {
  EXPECT_EQ(clean_text("  Ada  ", 1, 60), "Ada");
  EXPECT_EQ(clean_text("\xC3\xA9\xC3\xA9\xC3\xA9", 3, 3), "\xC3\xA9\xC3\xA9\xC3\xA9");
  EXPECT_FALSE(clean_text("   ", 1, 60));
  EXPECT_FALSE(clean_text("abcd", 1, 3));
  EXPECT_FALSE(clean_text("ab", 3, 10));
}

TEST(CleanText, RejectsInvalidUtf8AndControlCharacters) {
  EXPECT_FALSE(clean_text("ab\xFF", 1, 60));
  EXPECT_FALSE(
      clean_text("ab\x01"
                 "c",
                 1, 60));
  EXPECT_FALSE(clean_text("line\nbreak", 1, 60));
  EXPECT_EQ(clean_text("line\nbreak", 1, 60, true), "line\nbreak");
}

TEST(CanonicalEmail, LowercasesAndTrims) {
  EXPECT_EQ(canonical_email("  Ada@Example.COM "), "ada@example.com");
}

TEST(CanonicalEmail, RejectsMalformedAddresses) {
  for (const char* bad :
       {"", "a", "a@b", "@b.com", "a@", "a@@b.com", "a@b@c.com", "a b@c.com", "a@b.com.", "a@.com",
        "<a@b.com>", "\"a\"@b.com", "a,b@c.com", "a@b\x01.com", "a@b\xFF.com"}) {
    EXPECT_FALSE(canonical_email(bad)) << bad;
  }
}

TEST(CanonicalEmail, AcceptsUpTo254CharactersAndNoMore) {
  auto address = [](std::size_t total) {
    std::string domain = "@example.com";
    return std::string(total - domain.size(), 'a') + domain;
  };
  EXPECT_TRUE(canonical_email(address(254)));
  EXPECT_FALSE(canonical_email(address(255)));
}

TEST(ToLower, OnlyChangesAsciiLetters) {
  EXPECT_EQ(to_lower("AbC-09_\xC3\x89"), "abc-09_\xC3\x89");
}
