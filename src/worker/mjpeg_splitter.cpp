#include "worker/mjpeg_splitter.hpp"

#include <cstdint>

namespace ds::worker {
namespace {

std::uint8_t at(const std::string& s, std::size_t i) { return static_cast<std::uint8_t>(s[i]); }

}  // namespace

MjpegSplitter::MjpegSplitter(std::size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

void MjpegSplitter::drop_front(std::size_t n, bool skipped) {
  if (skipped) skipped_ += n;
  buffer_.erase(0, n);
  pos_ = pos_ > n ? pos_ - n : 0;
}

void MjpegSplitter::resync() {
  // Drop this frame's SOI so the search finds the next one.
  drop_front(std::min<std::size_t>(2, buffer_.size()), true);
  state_ = State::kSeekStart;
  pos_ = 0;
}

std::vector<std::string> MjpegSplitter::feed(std::string_view bytes) {
  std::vector<std::string> frames;
  buffer_.append(bytes);
  while (true) {
    if (state_ == State::kSeekStart) {
      std::size_t soi = buffer_.find("\xFF\xD8");
      if (soi == std::string::npos) {
        // Keep a trailing FF: it may be the first half of the next SOI.
        std::size_t keep = !buffer_.empty() && at(buffer_, buffer_.size() - 1) == 0xFF ? 1 : 0;
        drop_front(buffer_.size() - keep, true);
        return frames;
      }
      drop_front(soi, true);
      state_ = State::kMarker;
      pos_ = 2;
    }
    if (pos_ > max_frame_bytes_) {
      resync();
      continue;
    }
    if (state_ == State::kMarker) {
      // Between segments: expect FF, fill bytes, a marker, and (for most) a length.
      if (pos_ >= buffer_.size()) return frames;
      if (at(buffer_, pos_) != 0xFF) {
        resync();
        continue;
      }
      std::size_t m = pos_;
      while (m < buffer_.size() && at(buffer_, m) == 0xFF) ++m;
      // Fill bytes count towards the frame's size too: a run of them must not grow it (and
      // the buffer) past the cap.
      if (m > max_frame_bytes_) {
        resync();
        continue;
      }
      if (m >= buffer_.size()) return frames;
      std::uint8_t marker = at(buffer_, m);
      if (marker == 0xD9) {
        frames.push_back(buffer_.substr(0, m + 1));
        drop_front(m + 1, false);
        state_ = State::kSeekStart;
        continue;
      }
      if (marker == 0xD8 || marker == 0x00) {
        resync();
        continue;
      }
      if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
        pos_ = m + 1;
        continue;
      }
      if (m + 2 >= buffer_.size()) return frames;
      std::size_t length = (std::size_t{at(buffer_, m + 1)} << 8) | at(buffer_, m + 2);
      if (length < 2) {
        resync();
        continue;
      }
      std::size_t next = m + 1 + length;
      if (next > max_frame_bytes_) {
        resync();
        continue;
      }
      if (next > buffer_.size()) return frames;  // wait for the whole segment
      pos_ = next;
      if (marker == 0xDA) state_ = State::kEntropy;
      continue;
    }
    // kEntropy: scan data until a marker that is not stuffing (FF 00) or a restart (FF D0-D7).
    std::size_t ff = buffer_.find('\xFF', pos_);
    if (ff == std::string::npos || ff + 1 >= buffer_.size()) {
      pos_ = ff == std::string::npos ? buffer_.size() : ff;
      // Enforce the cap now rather than on the next feed: memory stays within it, and the
      // outcome does not depend on where the chunks happened to end.
      if (pos_ > max_frame_bytes_) {
        resync();
        continue;
      }
      return frames;
    }
    std::uint8_t next = at(buffer_, ff + 1);
    if (next == 0x00 || (next >= 0xD0 && next <= 0xD7)) {
      pos_ = ff + 2;
    } else if (next == 0xFF) {
      pos_ = ff + 1;
    } else {
      // EOI, or the next segment of a progressive image (DHT, SOS, ...).
      pos_ = ff;
      state_ = State::kMarker;
    }
  }
}

}  // namespace ds::worker
