// A stream's H.264 units as low-latency HLS media: CMAF segments cut at keyframes, each made of
// parts (one fMP4 fragment each) published as soon as they are whole, in a bounded window of
// the newest segments. Pure: no clock, no threads, no lock (the caller keeps one); fed units in
// order. Segments are numbered from first_msn, so a session's media stays addressable by its
// session id and media sequence number (a recording can keep the same segments).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "video/access_unit.hpp"
#include "video/fmp4.hpp"

namespace ds::video {

struct HlsConfig {
  // A part is closed once it holds this much video (or the next picture would pass it).
  std::int64_t part_target_ms = 500;
  // A keyframe starts a new segment once the current one holds this much (the encoder's
  // keyframes come at least every 2 s: keyframe_policy.hpp, so segments are 1 to 2 s).
  std::int64_t min_segment_ms = 1000;
  // EXT-X-TARGETDURATION at least (seconds): the longest segment the keyframe rule makes.
  std::int64_t target_duration_s = 2;
  // Complete segments kept (the playlist's window); older ones are let go.
  std::size_t window_segments = 6;
  // The newest segments that keep their parts (listed as EXT-X-PART); older ones keep only
  // their whole bytes.
  std::size_t part_segments = 3;
};

struct HlsPart {
  std::shared_ptr<const std::string> bytes;  // one moof + mdat; null once let go
  std::int64_t duration = 0;                 // in fmp4::kTimescale units
  bool independent = false;                  // starts with a keyframe
};

struct HlsSegment {
  std::int64_t msn = 0;
  std::int64_t init_msn = 0;   // it decodes with the init segment made at this msn
  bool discontinuity = false;  // its init differs from the one of the segment before
  std::int64_t start_ms = 0;   // its first picture's timestamp (epoch ms: PROGRAM-DATE-TIME)
  std::int64_t duration = 0;   // in fmp4::kTimescale units, the sum of its parts'
  std::vector<HlsPart> parts;
  std::shared_ptr<const std::string> bytes;  // all its parts, once complete
  bool complete = false;
};

class HlsSegmenter {
 public:
  // time_origin_ms: the timestamp that is media time 0 (a session's first picture), so
  // segments of one session made by successive segmenters share one timeline.
  HlsSegmenter(HlsConfig config, std::int64_t first_msn, std::int64_t time_origin_ms);

  // A unit of the stream, in order. True when a part (or a segment) was published. Units
  // before the first keyframe, with no picture, or whose timestamp does not rise are ignored.
  bool push(const AccessUnit& unit);
  // The stream ended: the last picture closes its part and segment (it lasts as long as the
  // one before it). True when something was published.
  bool finish();

  bool ended() const { return ended_; }
  const HlsConfig& config() const { return config_; }
  // The window: complete segments, then the one being made (not complete, maybe no parts yet).
  const std::deque<HlsSegment>& segments() const { return segments_; }
  const HlsSegment* segment(std::int64_t msn) const;
  // The init segment first used at init_msn; null when no segment of the window uses it.
  std::shared_ptr<const std::string> init(std::int64_t init_msn) const;
  // The part that comes next (the preload hint): its segment's msn and its index there.
  std::pair<std::int64_t, int> next_part() const;
  // The msn of the next segment to start (a later segmenter of the session goes on from it).
  std::int64_t next_msn() const { return next_msn_; }
  // Whether the part (msn, part) is published; a part index past a complete segment's last
  // means the first part of the next one. Parts before the window count as published.
  bool has_part(std::int64_t msn, int part) const;
  // Whether segment msn is complete (or before the window).
  bool has_segment(std::int64_t msn) const;
  // The newest complete segment's msn; nullopt: none yet.
  std::optional<std::int64_t> last_complete() const;
  // Seconds: the longest segment so far rounded, never below config's and never shrinking.
  std::int64_t target_duration_s() const { return target_duration_s_; }
  // In fmp4::kTimescale units: config's part target, or the longest part so far when longer
  // (a picture slower than the target is a part of its own), never shrinking: RFC 8216bis
  // wants no part longer than EXT-X-PART-INF's PART-TARGET.
  std::int64_t part_target() const { return part_target_; }
  // Bytes held (parts, segments, inits).
  std::size_t bytes() const;

 private:
  struct Pending {
    std::string sample;
    std::int64_t pts_ms = 0;
    bool keyframe = false;
  };
  struct PartSample {
    std::string data;
    std::uint32_t duration = 0;
    bool keyframe = false;
  };

  void add_sample(Pending&& p, std::int64_t duration);
  void close_part();
  void close_segment();
  void open_segment(const AccessUnit& unit, bool new_init);
  void trim();
  std::int64_t open_duration() const;

  HlsConfig config_;
  std::int64_t next_msn_;
  std::int64_t origin_ms_;
  std::deque<HlsSegment> segments_;
  std::map<std::int64_t, std::shared_ptr<const std::string>> inits_;
  std::optional<fmp4::TrackConfig> track_;
  std::int64_t init_msn_ = -1;
  std::optional<Pending> pending_;
  std::vector<PartSample> part_;
  std::int64_t part_duration_ = 0;
  std::int64_t part_start_ms_ = 0;
  std::int64_t last_duration_ = 0;
  std::uint32_t fragment_seq_ = 1;
  std::uint64_t changes_ = 0;  // parts and segments published
  std::int64_t target_duration_s_;
  std::int64_t part_target_;
  bool ended_ = false;
};

}  // namespace ds::video
