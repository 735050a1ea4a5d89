#include "domain/username.hpp"

namespace ds::domain {

std::optional<std::string> canonical_username(std::string_view raw) {
  if (raw.size() < kUsernameMin || raw.size() > kUsernameMax) return std::nullopt;
  std::string out;
  out.reserve(raw.size());
  for (char c : raw) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return std::nullopt;
    out.push_back(c);
  }
  // Names that would shadow fixed routes under /api/streams/.
  for (const char* reserved : {"sessions", "settings", "live", "start", "stop"}) {
    if (out == reserved) return std::nullopt;
  }
  return out;
}

}  // namespace ds::domain
