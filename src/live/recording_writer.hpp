// One recording's files (docs/architecture.md#recordings): init segments and segments, each
// written whole under a temporary name and renamed, then the playlist (index.m3u8) rewritten
// the same way, so the directory always holds a playable recording up to its last complete
// segment, whenever the process is killed. Blocking file I/O, for the recorder's writer thread
// only; throws std::filesystem::filesystem_error when the disk refuses.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "video/vod_playlist.hpp"

namespace ds::live {

// Writes bytes to file: to file + ".tmp" first, then renamed over it.
void write_file_atomically(const std::filesystem::path& file, std::string_view bytes);

class RecordingWriter {
 public:
  // Opens dir, creating it. A playlist already there (the recording switched on again, resumed
  // by the stream's new home, or left by a node that died) is read and continued; temporary
  // files a killed writer left are removed.
  explicit RecordingWriter(std::filesystem::path dir);

  // init-<msn>.mp4.
  void add_init(std::int64_t msn, std::string_view bytes);
  // <msn>.m4s, then the playlist (EVENT) with it. Its init must be written first.
  void add_segment(const video::VodSegment& segment, std::string_view bytes);
  // The playlist becomes VOD with EXT-X-ENDLIST (adding a segment later reopens it).
  void finish();

  const std::filesystem::path& dir() const { return dir_; }
  const video::VodPlaylist& playlist() const { return playlist_; }
  // Bytes of the media its playlist names (inits and segments).
  std::int64_t bytes() const { return bytes_; }
  // The recording was deleted: what is still queued for it is dropped.
  // (Any thread: a deletion marks it while a job may be writing.)
  void abandon() { abandoned_ = true; }
  bool abandoned() const { return abandoned_; }

 private:
  void write_playlist();

  std::filesystem::path dir_;
  video::VodPlaylist playlist_;
  std::int64_t bytes_ = 0;
  std::atomic<bool> abandoned_{false};
};

}  // namespace ds::live
