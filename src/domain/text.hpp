// Checks on user-supplied text: UTF-8 validity, control characters, lengths, e-mail shape.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ds::domain {

bool is_valid_utf8(std::string_view s);

// Number of Unicode code points; the string must be valid UTF-8.
std::size_t utf8_length(std::string_view s);

// Trims ASCII whitespace at both ends.
std::string_view trim(std::string_view s);

// True when s holds a C0 control character other than tab/newline, or DEL.
bool has_control_chars(std::string_view s, bool allow_newlines);

// Trimmed single-line text of min..max code points, or nullopt.
std::optional<std::string> clean_text(std::string_view raw, std::size_t min, std::size_t max,
                                      bool allow_newlines = false);

// A plausible e-mail address (one @, a dot in the domain, no spaces), lower-cased; or nullopt.
std::optional<std::string> canonical_email(std::string_view raw);

std::string to_lower(std::string_view s);

}  // namespace ds::domain
