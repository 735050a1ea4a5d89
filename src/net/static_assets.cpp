#include "net/static_assets.hpp"

#include <fstream>
#include <sstream>

#include "domain/username.hpp"

namespace ds::net {

std::string content_type_for(std::string_view path) {
  auto ends = [&](std::string_view s) { return path.ends_with(s); };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js") || ends(".mjs")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  if (ends(".jpg") || ends(".jpeg")) return "image/jpeg";
  if (ends(".ico")) return "image/x-icon";
  if (ends(".json")) return "application/json";
  if (ends(".woff2")) return "font/woff2";
  if (ends(".txt")) return "text/plain; charset=utf-8";  // licences of vendored libraries
  return "application/octet-stream";
}

std::optional<Asset> StaticAssets::find(std::string_view path) const {
  if (path.empty() || path.front() != '/' || path.find("..") != std::string_view::npos ||
      path.find('\\') != std::string_view::npos || path.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  if (!dir_.empty()) {
    std::ifstream in(dir_ + std::string(path), std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream ss;
    ss << in.rdbuf();
    return Asset{ss.str(), content_type_for(path)};
  }
  for (const auto& f : embedded_files()) {
    if (f.path == path) return Asset{std::string(f.data), content_type_for(path)};
  }
  return std::nullopt;
}

namespace {

// The channel of a recording page's path, "/u/<name>/sessions/<id>" (id: 1 to 18 digits).
std::optional<std::string_view> recording_channel(std::string_view p) {
  constexpr std::string_view kSessions = "/sessions/";
  if (!p.starts_with("/u/")) return std::nullopt;
  auto slash = p.find('/', 3);
  if (slash == std::string_view::npos || slash == 3) return std::nullopt;
  auto rest = p.substr(slash);
  if (!rest.starts_with(kSessions)) return std::nullopt;
  auto id = rest.substr(kSessions.size());
  if (id.empty() || id.size() > 18 || id.front() == '0' ||
      id.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  return p.substr(3, slash - 3);
}

}  // namespace

std::optional<Asset> StaticAssets::page_for(std::string_view p) const {
  if (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  std::string_view page;
  if (p == "/" || p.empty())
    page = "home";
  else if (p == "/register")
    page = "register";
  else if (p == "/login")
    page = "login";
  else if (p == "/profile")
    page = "profile";
  else if (p == "/studio")
    page = "studio";
  else if (p.starts_with("/u/") && p.find('/', 3) == std::string_view::npos)
    page = "watch";
  else if (p.starts_with("/u/") && p.ends_with("/embed") && p.size() > 9 &&
           domain::canonical_username(p.substr(3, p.size() - 9)))
    page = "embed";
  else if (recording_channel(p))
    page = "recording";
  else if (p == "/checkout/success" || p == "/checkout/cancel")
    page = "checkout";
  else if (p.starts_with("/receipts/") && p.find('/', 10) == std::string_view::npos)
    page = "receipt";
  else
    return std::nullopt;
  auto asset = find("/pages/" + std::string(page) + ".html");
  if (!asset) return asset;
  asset->embeddable = page == "embed";
  if (page == "watch") asset->channel = std::string(p.substr(3));
  if (page == "embed") asset->channel = std::string(p.substr(3, p.size() - 9));
  if (page == "recording") asset->channel = std::string(*recording_channel(p));
  return asset;
}

}  // namespace ds::net
