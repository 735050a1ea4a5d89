// Splits a byte stream of concatenated JPEGs (ffmpeg `-f mjpeg -`) into whole frames.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ds::worker {

// Incremental: feed() takes bytes in chunks of any size and returns the frames they complete.
// A frame runs from SOI (FF D8) to the EOI (FF D9) that ends its last scan; marker segments are
// skipped by their lengths, so an EXIF thumbnail (a JPEG inside APP1) does not end the frame
// early. Bytes between frames (multipart headers, garbage) are skipped; a frame that grows past
// `max_frame_bytes` is abandoned and the splitter resynchronises on the next SOI.
class MjpegSplitter {
 public:
  static constexpr std::size_t kDefaultMaxFrameBytes = 16 * 1024 * 1024;

  explicit MjpegSplitter(std::size_t max_frame_bytes = kDefaultMaxFrameBytes);

  std::vector<std::string> feed(std::string_view bytes);

  // Bytes thrown away so far: outside any frame, or in abandoned frames.
  std::size_t skipped_bytes() const { return skipped_; }
  // Bytes of an unfinished frame held for the next feed().
  std::size_t pending_bytes() const { return buffer_.size(); }

 private:
  enum class State { kSeekStart, kMarker, kEntropy };

  void drop_front(std::size_t n, bool skipped);
  void resync();

  std::size_t max_frame_bytes_;
  std::string buffer_;  // starts at the current frame's SOI (or unread bytes while seeking)
  State state_ = State::kSeekStart;
  std::size_t pos_ = 0;  // next byte of buffer_ to examine
  std::size_t skipped_ = 0;
};

}  // namespace ds::worker
