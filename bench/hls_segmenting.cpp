// What HLS costs beside the encoder (issue 23, item 4; docs/performance.md "HLS"): the camera
// clip of bench/video_bytes (a panorama panning under a moving figure, fresh sensor noise every
// frame) through a CPU look into the built-in worker's JPEGs, encoded by video::H264Encoder at
// the server's default settings, then cut by video::HlsSegmenter (fMP4 parts and segments,
// muxing included) at the server's default HLS settings. Printed per frame rate:
//   - the encoder's CPU per unit (JPEG decoding included): the baseline;
//   - the segmenter's CPU per unit (HlsSegmenter::push: the NAL units to an MP4 sample, the
//     moof+mdat of each part, the segment's bytes), mean and p99 over --repeat passes, and
//     render_playlist's CPU per published part (what an origin behind a cache renders about
//     once per part);
//   - both as % of one core at the stream's frame rate;
//   - the media bytes per minute: every complete segment plus its init segment, what a
//     recording keeps on disk (its segments are the live ones), and what the boxes add to
//     the raw units' bytes.
//   hls_segmenting [--seconds 60] [--fps 10,30] [--look toon] [--repeat 20] [--part-ms 500]
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "camera_scene.hpp"
#include "video/h264_encoder.hpp"
#include "video/hls_playlist.hpp"
#include "video/hls_segmenter.hpp"
#include "worker/looks.hpp"

extern "C" {
#include <libavutil/log.h>
}

namespace {

using ds::bench::mean;
using ds::bench::pct;
using ds::bench::thread_cpu_ns;

struct Pass {
  std::vector<double> push_us;      // per unit
  std::vector<double> publish_us;   // per unit whose push published a part
  std::vector<double> playlist_us;  // per published part
  double segment_bytes = 0;         // complete segments
  double init_bytes = 0;            // their init segments, once each
  int segments = 0;
  int parts = 0;
  double media_s = 0;  // the complete segments' duration
};

// One pass of the segmenter over the units, as HlsStore feeds it (then finish(), as at a
// stream's end, so the last segment counts too).
Pass segment(const std::vector<ds::video::AccessUnit>& units, const ds::video::HlsConfig& config) {
  Pass p;
  ds::video::HlsSegmenter s(config, 0, units.front().pts_ms);
  std::int64_t counted = -1;  // the newest segment whose bytes were added
  std::set<std::int64_t> inits;
  auto count = [&] {
    for (const auto& seg : s.segments()) {
      if (!seg.complete || seg.msn <= counted) continue;
      counted = seg.msn;
      p.segment_bytes += static_cast<double>(seg.bytes->size());
      p.parts += static_cast<int>(seg.parts.size());
      p.media_s += static_cast<double>(seg.duration) / ds::video::fmp4::kTimescale;
      ++p.segments;
      if (inits.insert(seg.init_msn).second) {
        p.init_bytes += static_cast<double>(s.init(seg.init_msn)->size());
      }
    }
  };
  for (const auto& u : units) {
    std::int64_t before = thread_cpu_ns();
    bool published = s.push(u);
    p.push_us.push_back(static_cast<double>(thread_cpu_ns() - before) / 1e3);
    if (published) p.publish_us.push_back(p.push_us.back());
    if (published) {
      before = thread_cpu_ns();
      std::string text = ds::video::render_playlist(s, "hls/1/");
      p.playlist_us.push_back(static_cast<double>(thread_cpu_ns() - before) / 1e3);
      if (text.empty()) std::abort();
    }
    count();
  }
  s.finish();
  count();
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  ds::bench::ClipOptions clip;
  clip.seconds = 60;
  int repeat = 20;
  ds::video::EncoderSettings settings;  // the server's defaults (serve --video-* flags)
  ds::video::HlsConfig config;          // the server's defaults but the part target
  config.part_target_ms = 500;          // serve --hls-part-ms
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (clip.take(k, v)) {
      continue;
    } else if (k == "--repeat") {
      repeat = std::atoi(v.c_str());
    } else if (k == "--part-ms") {
      config.part_target_ms = std::atoi(v.c_str());
    } else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  auto look = ds::worker::look_from_name(clip.look);
  if (!look || clip.rates.empty() || clip.seconds <= 0 || repeat < 1) {
    std::fprintf(stderr,
                 "usage: hls_segmenting [--seconds 60] [--fps 10,30] [--look toon] [--repeat 20] "
                 "[--part-ms 500]\n");
    return 2;
  }
  av_log_set_level(AV_LOG_ERROR);
  cv::Mat wide = ds::bench::panorama(
      ds::bench::kCameraWidth + static_cast<int>(60 * clip.seconds) + 2, ds::bench::kCameraHeight);
  std::printf("look=%s crf=%d max_kbps=%d preset=%s part_ms=%lld seconds=%.0f repeat=%d\n",
              clip.look.c_str(), settings.crf, settings.max_kbps, settings.preset.c_str(),
              static_cast<long long>(config.part_target_ms), clip.seconds, repeat);
  std::printf(
      "| fps | units | encoder CPU µs/unit mean / p99 | segmenter CPU µs/unit mean / p99 | "
      "publishing units µs mean | segmenter : encoder | encoder %% of a core | segmenter %% of a "
      "core | playlist µs/part "
      "mean / p99 | segments / parts | media bytes/min (segments + init) | kbit/s | over the raw "
      "units |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (int fps : clip.rates) {
    int frames = static_cast<int>(clip.seconds * fps);
    cv::RNG rng(11);
    ds::video::H264Encoder encoder(settings);
    std::vector<double> encode_us;
    std::vector<ds::video::AccessUnit> units;
    const std::int64_t start_ms = 1'765'000'000'000;
    for (int i = 0; i < frames; ++i) {
      double t = static_cast<double>(i) / fps;
      std::string jpeg =
          ds::bench::encode_jpeg(ds::worker::apply_look(ds::bench::camera(wide, t, rng), *look, 0));
      std::int64_t before = thread_cpu_ns();
      auto unit = encoder.encode_jpeg(jpeg, start_ms + i * 1000 / fps);
      encode_us.push_back(static_cast<double>(thread_cpu_ns() - before) / 1e3);
      if (!unit) {
        std::fprintf(stderr, "encode failed: %s\n", unit.error().message.c_str());
        return 1;
      }
      units.push_back(std::move(*unit));
    }
    // The segmenter is microseconds per unit: several passes over the same units (each a
    // fresh segmenter, as a new session) so that the mean is not one pass's noise.
    std::vector<double> push_us, publish_us, playlist_us;
    Pass first;
    for (int r = 0; r < repeat; ++r) {
      Pass p = segment(units, config);
      push_us.insert(push_us.end(), p.push_us.begin(), p.push_us.end());
      publish_us.insert(publish_us.end(), p.publish_us.begin(), p.publish_us.end());
      playlist_us.insert(playlist_us.end(), p.playlist_us.begin(), p.playlist_us.end());
      if (r == 0) first = std::move(p);
    }
    double enc = mean(encode_us), seg = mean(push_us);
    double unit_bytes = 0;
    for (const auto& u : units) unit_bytes += static_cast<double>(u.bytes());
    double bytes_per_min = (first.segment_bytes + first.init_bytes) / first.media_s * 60;
    std::printf(
        "| %d | %d | %.0f / %.0f | %.1f / %.1f | %.1f | %.2f %% | %.2f %% | %.3f %% | %.1f / %.1f "
        "| "
        "%d / %d | %.0f (%.2f MiB) | %.0f | %+.1f %% |\n",
        fps, frames, enc, pct(encode_us, 99), seg, pct(push_us, 99), mean(publish_us),
        100 * seg / enc, enc * fps / 1e4, seg * fps / 1e4, mean(playlist_us), pct(playlist_us, 99),
        first.segments, first.parts, bytes_per_min, bytes_per_min / (1024 * 1024),
        bytes_per_min * 8 / 60 / 1000,
        100 * ((first.segment_bytes + first.init_bytes) / unit_bytes - 1));
    std::fflush(stdout);
  }
  return 0;
}
