// %XX escapes in the user, password and path parts of a URL (database and Redis URLs).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ds::util {

namespace detail {
inline int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
// Decodes s; a '%' not followed by two hex digits fails (strict) or stays as written.
inline std::optional<std::string> percent_decode(std::string_view s, bool strict) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    int hi = s[i] == '%' && i + 2 < s.size() ? hex_digit(s[i + 1]) : -1;
    int lo = hi >= 0 ? hex_digit(s[i + 2]) : -1;
    if (lo < 0) {
      if (s[i] == '%' && strict) return std::nullopt;
      out += s[i];
      continue;
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}
}  // namespace detail

// nullopt for a broken escape.
inline std::optional<std::string> percent_decode(std::string_view s) {
  return detail::percent_decode(s, true);
}

// A broken escape stays as written.
inline std::string percent_decode_lenient(std::string_view s) {
  return *detail::percent_decode(s, false);
}

}  // namespace ds::util
