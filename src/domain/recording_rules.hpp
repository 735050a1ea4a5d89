// Recordings' pure rules: which file names of a recording may be asked for (nothing else of
// the media directory is ever served), and what the sweeper deletes or stops to keep the
// retention period and each account's storage quota.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ds::domain {

enum class RecordingFileKind { kPlaylist, kInit, kSegment };

struct RecordingFile {
  RecordingFileKind kind = RecordingFileKind::kPlaylist;
  std::int64_t msn = 0;  // kInit, kSegment
};

// "index.m3u8", "init-<msn>.mp4" or "<msn>.m4s" with msn 1 to 18 decimal digits (no sign, no
// leading zero but "0"); nullopt for anything else (dots, slashes, other names).
std::optional<RecordingFile> parse_recording_file(std::string_view name);
std::string recording_init_name(std::int64_t msn);
std::string recording_segment_name(std::int64_t msn);

// What the sweeper knows of one recording.
struct RecordingUsage {
  long long session_id = 0;
  long long user_id = 0;
  bool complete = false;  // false: being recorded now
  std::int64_t bytes = 0;
  std::int64_t created_ms = 0;
};

struct SweepRules {
  std::int64_t keep_ms = 30LL * 86'400'000;  // complete recordings older than this go
  std::int64_t quota_bytes = 2048LL << 20;   // per account
};

struct SweepPlan {
  struct Removal {
    long long session_id = 0;
    long long user_id = 0;
    const char* reason = "";  // "retention" or "quota"
  };
  std::vector<Removal> remove;  // complete recordings to delete
  std::vector<Removal> stop;    // recordings in progress to stop (reason "quota")
};

// Retention: a complete recording created keep_ms ago or earlier is removed. Quota, per
// account over quota_bytes (all its recordings counted): its complete recordings are removed
// oldest first until it is under, but never its newest one (a recording stopped at the quota
// stays: the account keeps at most about one recording's worth more than the quota); if it is
// still over and its newest is in progress, that one is stopped. Recordings in progress are
// never removed. rows: every recording of the accounts concerned, in any order.
SweepPlan plan_sweep(const std::vector<RecordingUsage>& rows, std::int64_t now_ms,
                     const SweepRules& rules);

}  // namespace ds::domain
