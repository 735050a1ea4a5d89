#include "live/recording_writer.hpp"

#include <spdlog/spdlog.h>

#include <fstream>
#include <set>
#include <sstream>

#include "domain/recording_rules.hpp"

namespace ds::live {

namespace fs = std::filesystem;

void write_file_atomically(const fs::path& file, std::string_view bytes) {
  auto tmp = file;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      throw fs::filesystem_error("write failed", tmp, std::make_error_code(std::errc::io_error));
    }
  }
  fs::rename(tmp, file);
}

RecordingWriter::RecordingWriter(fs::path dir) : dir_(std::move(dir)) {
  fs::create_directories(dir_);
  for (const auto& entry : fs::directory_iterator(dir_)) {
    if (entry.path().extension() == ".tmp") {
      std::error_code ignored;
      fs::remove(entry.path(), ignored);
    }
  }
  std::ifstream in(dir_ / "index.m3u8", std::ios::binary);
  if (!in) return;
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = video::parse_vod_playlist(text.str());
  if (!parsed) {
    spdlog::warn("event=recording_playlist_unreadable dir={}", dir_.string());
    return;
  }
  playlist_ = std::move(*parsed);
  std::set<std::int64_t> inits;
  std::error_code ec;
  for (const auto& s : playlist_.segments) {
    bytes_ +=
        static_cast<std::int64_t>(fs::file_size(dir_ / domain::recording_segment_name(s.msn), ec));
    if (inits.insert(s.init_msn).second) {
      bytes_ += static_cast<std::int64_t>(
          fs::file_size(dir_ / domain::recording_init_name(s.init_msn), ec));
    }
  }
}

void RecordingWriter::add_init(std::int64_t msn, std::string_view bytes) {
  write_file_atomically(dir_ / domain::recording_init_name(msn), bytes);
  bytes_ += static_cast<std::int64_t>(bytes.size());
}

void RecordingWriter::add_segment(const video::VodSegment& segment, std::string_view bytes) {
  write_file_atomically(dir_ / domain::recording_segment_name(segment.msn), bytes);
  bytes_ += static_cast<std::int64_t>(bytes.size());
  playlist_.segments.push_back(segment);
  playlist_.ended = false;
  write_playlist();
}

void RecordingWriter::finish() {
  playlist_.ended = true;
  write_playlist();
}

void RecordingWriter::write_playlist() {
  write_file_atomically(dir_ / "index.m3u8", video::render_vod_playlist(playlist_));
}

}  // namespace ds::live
