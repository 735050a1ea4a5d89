// A recording as one MP4 file: its fMP4 segments remuxed with libavformat (the H.264 samples
// copied, never re-encoded), the index at the front (faststart) so a player starts before the
// whole file is there. Blocking file I/O: for the blocking pool.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ds::video {

// One init segment and the segments that decode with it, in order.
struct RemuxGroup {
  std::filesystem::path init;
  std::vector<std::filesystem::path> segments;
};

// Writes out (replacing it) from groups, in order, on one timeline without gaps: each group's
// first picture follows the last one of the group before. A group whose codec parameters differ
// from the first's (the resolution changed) is left out: one MP4 track has one set. The error's
// text on failure (out is removed then).
std::optional<std::string> remux_to_mp4(const std::vector<RemuxGroup>& groups,
                                        const std::filesystem::path& out);

}  // namespace ds::video
