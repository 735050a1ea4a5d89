// What an API token may do. A login session may do everything; a token only what it was given
// when it was made (docs/api.md#scopes). Stored as names, so a scope added later is never given
// to an older token by accident.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/expected.hpp"

namespace ds::auth {

enum class Scope : unsigned {
  kNone = 0,           // any caller who is logged in (a token revoking itself)
  kRead = 1u << 0,     // GET the account, credits, stream history and settings
  kStream = 1u << 1,   // start and stop the stream, ingest tickets, settings, style controls
  kChat = 1u << 2,     // post and delete comments, request styles
  kKey = 1u << 3,      // rotate (and so read) the stream key
  kTokens = 1u << 4,   // list, create and revoke API tokens
  kAccount = 1u << 5,  // profile, password, sessions, buying credits, deleting the account
};

class ScopeSet {
 public:
  constexpr ScopeSet() = default;
  constexpr explicit ScopeSet(unsigned bits) : bits_(bits) {}
  constexpr bool has(Scope s) const {
    return (bits_ & static_cast<unsigned>(s)) == static_cast<unsigned>(s);
  }
  constexpr bool covers(ScopeSet other) const { return (bits_ & other.bits_) == other.bits_; }
  constexpr unsigned bits() const { return bits_; }
  constexpr bool empty() const { return bits_ == 0; }
  friend constexpr bool operator==(ScopeSet, ScopeSet) = default;

 private:
  unsigned bits_ = 0;
};

inline constexpr ScopeSet kAllScopes{(1u << 6) - 1};

// "read", "stream", …; "" for kNone.
std::string_view scope_name(Scope s);
// The names of the scopes in set, in the order of the enum.
std::vector<std::string> scope_names(ScopeSet set);
// Space-separated names, as stored in api_tokens.scopes.
std::string scopes_text(ScopeSet set);
// From the stored text; names it does not know give nothing (never more than was stored).
ScopeSet scopes_from_text(std::string_view text);
// What a client asked for: known names only, at least one (400 invalid_scope otherwise).
Expected<ScopeSet> parse_scopes(const std::vector<std::string>& names);

}  // namespace ds::auth
