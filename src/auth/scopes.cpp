#include "auth/scopes.hpp"

#include <array>
#include <optional>
#include <utility>

namespace ds::auth {

namespace {

constexpr std::array<std::pair<Scope, std::string_view>, 6> kNames = {{
    {Scope::kRead, "read"},
    {Scope::kStream, "stream"},
    {Scope::kChat, "chat"},
    {Scope::kKey, "key"},
    {Scope::kTokens, "tokens"},
    {Scope::kAccount, "account"},
}};

std::optional<Scope> scope_of(std::string_view name) {
  for (const auto& [s, n] : kNames) {
    if (n == name) return s;
  }
  return std::nullopt;
}

}  // namespace

std::string_view scope_name(Scope s) {
  for (const auto& [scope, n] : kNames) {
    if (scope == s) return n;
  }
  return "";
}

std::vector<std::string> scope_names(ScopeSet set) {
  std::vector<std::string> out;
  for (const auto& [s, n] : kNames) {
    if (set.has(s)) out.emplace_back(n);
  }
  return out;
}

std::string scopes_text(ScopeSet set) {
  std::string out;
  for (const auto& n : scope_names(set)) {
    if (!out.empty()) out += ' ';
    out += n;
  }
  return out;
}

ScopeSet scopes_from_text(std::string_view text) {
  unsigned bits = 0;
  while (!text.empty()) {
    auto end = text.find(' ');
    auto word = text.substr(0, end);
    if (auto s = scope_of(word)) bits |= static_cast<unsigned>(*s);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return ScopeSet(bits);
}

Expected<ScopeSet> parse_scopes(const std::vector<std::string>& names) {
  unsigned bits = 0;
  for (const auto& name : names) {
    auto s = scope_of(name);
    if (!s) {
      std::string known;
      for (const auto& [scope, n] : kNames) known += (known.empty() ? "" : ", ") + std::string(n);
      return bad_request("unknown scope \"" + name.substr(0, 40) + "\"; the scopes are " + known,
                         "invalid_scope");
    }
    bits |= static_cast<unsigned>(*s);
  }
  if (bits == 0) return bad_request("name at least one scope", "invalid_scope");
  return ScopeSet(bits);
}

}  // namespace ds::auth
