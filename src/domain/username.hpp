// Username rules (docs/api.md, register): 3–30 characters of [a-z0-9_-], compared
// case-insensitively.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ds::domain {

inline constexpr std::size_t kUsernameMin = 3;
inline constexpr std::size_t kUsernameMax = 30;

// The canonical (lower-case) form of a valid username, or nullopt when it breaks the rules.
std::optional<std::string> canonical_username(std::string_view raw);

}  // namespace ds::domain
