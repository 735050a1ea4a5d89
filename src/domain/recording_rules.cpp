#include "domain/recording_rules.hpp"

#include <algorithm>
#include <charconv>
#include <map>

namespace ds::domain {

namespace {

std::optional<std::int64_t> parse_msn(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  if (s.size() > 1 && s.front() == '0') return std::nullopt;  // one spelling per file
  if (!std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<RecordingFile> parse_recording_file(std::string_view name) {
  if (name == "index.m3u8") return RecordingFile{RecordingFileKind::kPlaylist, 0};
  constexpr std::string_view kInitPrefix = "init-", kInitSuffix = ".mp4", kSegSuffix = ".m4s";
  if (name.starts_with(kInitPrefix) && name.ends_with(kInitSuffix) &&
      name.size() > kInitPrefix.size() + kInitSuffix.size()) {
    auto msn = parse_msn(
        name.substr(kInitPrefix.size(), name.size() - kInitPrefix.size() - kInitSuffix.size()));
    if (msn) return RecordingFile{RecordingFileKind::kInit, *msn};
    return std::nullopt;
  }
  if (name.ends_with(kSegSuffix)) {
    auto msn = parse_msn(name.substr(0, name.size() - kSegSuffix.size()));
    if (msn) return RecordingFile{RecordingFileKind::kSegment, *msn};
  }
  return std::nullopt;
}

std::string recording_init_name(std::int64_t msn) { return "init-" + std::to_string(msn) + ".mp4"; }

std::string recording_segment_name(std::int64_t msn) { return std::to_string(msn) + ".m4s"; }

SweepPlan plan_sweep(const std::vector<RecordingUsage>& rows, std::int64_t now_ms,
                     const SweepRules& rules) {
  SweepPlan plan;
  std::map<long long, std::vector<const RecordingUsage*>> by_user;
  for (const auto& r : rows) {
    if (r.complete && r.created_ms <= now_ms - rules.keep_ms) {
      plan.remove.push_back({r.session_id, r.user_id, "retention"});
    } else {
      by_user[r.user_id].push_back(&r);
    }
  }
  for (auto& [user, kept] : by_user) {
    std::sort(kept.begin(), kept.end(), [](const auto* a, const auto* b) {
      return std::pair(a->created_ms, a->session_id) < std::pair(b->created_ms, b->session_id);
    });
    std::int64_t total = 0;
    for (const auto* r : kept) total += r->bytes;
    if (total <= rules.quota_bytes) continue;
    const auto* newest = kept.back();
    for (const auto* r : kept) {
      if (total <= rules.quota_bytes) break;
      if (r == newest || !r->complete) continue;
      plan.remove.push_back({r->session_id, r->user_id, "quota"});
      total -= r->bytes;
    }
    if (total > rules.quota_bytes) {
      for (const auto* r : kept) {
        if (!r->complete) plan.stop.push_back({r->session_id, r->user_id, "quota"});
      }
    }
  }
  return plan;
}

}  // namespace ds::domain
