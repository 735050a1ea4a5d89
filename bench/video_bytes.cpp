// Bytes per frame of the JPEG path against the H.264 path (issue 22; docs/performance.md
// "Video encoding"): draws a moving 640×480 camera clip (a panorama panning under a bobbing
// figure, with sensor noise), runs each picture through a CPU look (worker::apply_look, as the
// built-in worker does) into a JPEG at the built-in worker's quality, encodes those JPEGs with
// video::H264Encoder at the clip's rate, decodes the units again with libavcodec and prints,
// per rate: JPEG and H.264 bytes per frame, the ratio, SSIM (luma) of the decoded video against
// the JPEG pictures, and the encoder's CPU per frame and per stream.
//   video_bytes [--seconds 20] [--fps 10,30] [--look toon] [--crf 23] [--max-kbps 3000]
//               [--profile high|baseline] [--preset veryfast] [--out DIR]
//   video_bytes --camera DIR [--seconds 20] [--fps 10]
// --camera writes the raw camera clip (before any look) as DIR/camera_NNNN.jpg at the first
// rate and stops: what bench/video_path.py pushes through a real server.
// With --out, DIR/clip_<fps>.mjpeg (the JPEGs) and DIR/video_<fps>.h264 (the units) are kept,
// for a cross-check with the ffmpeg CLI:
//   ffmpeg -i DIR/video_10.h264 -i DIR/clip_10.mjpeg -lavfi ssim -f null -
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "camera_scene.hpp"
#include "video/h264_encoder.hpp"
#include "worker/looks.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/log.h>
#include <libswscale/swscale.h>
}

namespace {

constexpr int kWidth = ds::bench::kCameraWidth;
constexpr int kHeight = ds::bench::kCameraHeight;

// As bench/skip_frames and bench/hls_segmenting draw and measure them.
using ds::bench::camera;
using ds::bench::encode_jpeg;
using ds::bench::mean;
using ds::bench::panorama;
using ds::bench::pct;
using ds::bench::thread_cpu_ns;

cv::Mat gray_of_jpeg(const std::string& jpeg) {
  cv::Mat bgr = cv::imdecode(std::vector<uchar>(jpeg.begin(), jpeg.end()), cv::IMREAD_COLOR);
  cv::Mat gray;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  return gray;
}

// Mean SSIM (Wang et al. 2004: 11×11 Gaussian, σ 1.5) of two 8-bit grey pictures.
double ssim(const cv::Mat& a8, const cv::Mat& b8) {
  const double c1 = 6.5025, c2 = 58.5225;
  cv::Mat a, b;
  a8.convertTo(a, CV_32F);
  b8.convertTo(b, CV_32F);
  cv::Mat a2 = a.mul(a), b2 = b.mul(b), ab = a.mul(b);
  cv::Mat mu_a, mu_b;
  cv::GaussianBlur(a, mu_a, {11, 11}, 1.5);
  cv::GaussianBlur(b, mu_b, {11, 11}, 1.5);
  cv::Mat mu_a2 = mu_a.mul(mu_a), mu_b2 = mu_b.mul(mu_b), mu_ab = mu_a.mul(mu_b);
  cv::Mat s_a2, s_b2, s_ab;
  cv::GaussianBlur(a2, s_a2, {11, 11}, 1.5);
  s_a2 -= mu_a2;
  cv::GaussianBlur(b2, s_b2, {11, 11}, 1.5);
  s_b2 -= mu_b2;
  cv::GaussianBlur(ab, s_ab, {11, 11}, 1.5);
  s_ab -= mu_ab;
  cv::Mat t1 = 2 * mu_ab + c1, t2 = 2 * s_ab + c2, t3 = mu_a2 + mu_b2 + c1, t4 = s_a2 + s_b2 + c2;
  cv::Mat map;
  cv::divide(t1.mul(t2), t3.mul(t4), map);
  return cv::mean(map)[0];
}

// The H.264 units decoded again (libavcodec), as grey pictures in order.
class Decoder {
 public:
  Decoder() {
    const AVCodec* h264 = avcodec_find_decoder(AV_CODEC_ID_H264);
    ctx_ = avcodec_alloc_context3(h264);
    ctx_->flags |= AV_CODEC_FLAG_LOW_DELAY;
    ctx_->thread_count = 1;
    if (avcodec_open2(ctx_, h264, nullptr) < 0) std::abort();
    packet_ = av_packet_alloc();
    frame_ = av_frame_alloc();
  }
  ~Decoder() {
    sws_freeContext(sws_);
    av_frame_free(&frame_);
    av_packet_free(&packet_);
    avcodec_free_context(&ctx_);
  }

  void decode(const std::string& unit, std::vector<cv::Mat>& out) {
    if (av_new_packet(packet_, static_cast<int>(unit.size())) < 0) std::abort();
    std::copy(unit.begin(), unit.end(), packet_->data);
    avcodec_send_packet(ctx_, packet_);
    av_packet_unref(packet_);
    drain(out);
  }
  void finish(std::vector<cv::Mat>& out) {
    avcodec_send_packet(ctx_, nullptr);
    drain(out);
  }

 private:
  void drain(std::vector<cv::Mat>& out) {
    while (avcodec_receive_frame(ctx_, frame_) == 0) {
      sws_ = sws_getCachedContext(
          sws_, frame_->width, frame_->height, static_cast<AVPixelFormat>(frame_->format),
          frame_->width, frame_->height, AV_PIX_FMT_BGR24, SWS_BILINEAR, nullptr, nullptr, nullptr);
      cv::Mat bgr(frame_->height, frame_->width, CV_8UC3);
      uint8_t* dst[4] = {bgr.data, nullptr, nullptr, nullptr};
      int stride[4] = {static_cast<int>(bgr.step), 0, 0, 0};
      sws_scale(sws_, frame_->data, frame_->linesize, 0, frame_->height, dst, stride);
      cv::Mat gray;
      cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
      out.push_back(gray);
      av_frame_unref(frame_);
    }
  }

  AVCodecContext* ctx_ = nullptr;
  AVPacket* packet_ = nullptr;
  AVFrame* frame_ = nullptr;
  SwsContext* sws_ = nullptr;
};

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

int main(int argc, char** argv) {
  ds::bench::ClipOptions clip;
  std::string out_dir, profile = "high", camera_dir;
  ds::video::EncoderSettings settings;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (clip.take(k, v)) {
      continue;
    } else if (k == "--crf") {
      settings.crf = std::atoi(v.c_str());
    } else if (k == "--max-kbps") {
      settings.max_kbps = std::atoi(v.c_str());
    } else if (k == "--profile") {
      profile = v;
    } else if (k == "--preset") {
      settings.preset = v;
    } else if (k == "--out") {
      out_dir = v;
    } else if (k == "--camera") {
      camera_dir = v;
    } else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  const double seconds = clip.seconds;
  const std::vector<int>& rates = clip.rates;
  const std::string& look_name = clip.look;
  auto look = ds::worker::look_from_name(look_name);
  if (!look || rates.empty() || seconds <= 0) {
    std::fprintf(stderr,
                 "usage: video_bytes [--seconds 20] [--fps 10,30] [--look toon] [--crf 23] "
                 "[--max-kbps 3000] [--profile high|baseline] [--preset veryfast] [--out DIR]\n");
    return 2;
  }
  settings.profile = profile == "baseline" ? ds::video::H264Profile::kConstrainedBaseline
                                           : ds::video::H264Profile::kHigh;
  if (auto ok = ds::video::check_settings(settings); !ok) {
    std::fprintf(stderr, "%s\n", ok.error().message.c_str());
    return 2;
  }
  av_log_set_level(AV_LOG_ERROR);
  cv::Mat wide = panorama(kWidth + static_cast<int>(60 * seconds) + 2, kHeight);
  if (!camera_dir.empty()) {
    cv::RNG rng(11);
    int frames = static_cast<int>(seconds * rates.front());
    for (int i = 0; i < frames; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "/camera_%04d.jpg", i);
      write_file(camera_dir + name,
                 encode_jpeg(camera(wide, static_cast<double>(i) / rates.front(), rng)));
    }
    std::printf("%d camera frames in %s\n", frames, camera_dir.c_str());
    return 0;
  }

  std::printf("look=%s crf=%d max_kbps=%d profile=%s preset=%s seconds=%.0f\n", look_name.c_str(),
              settings.crf, settings.max_kbps, profile.c_str(), settings.preset.c_str(), seconds);
  std::printf(
      "| fps | frames | JPEG bytes/frame | H.264 bytes/frame (keyframe / delta) | "
      "JPEG : H.264 | JPEG kbit/s | H.264 kbit/s | SSIM luma mean / min | "
      "encoder CPU ms/frame mean / p99 | CPU per stream |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  for (int fps : rates) {
    int frames = static_cast<int>(seconds * fps);
    cv::RNG rng(11);
    ds::video::H264Encoder encoder(settings);
    Decoder decoder;
    std::vector<cv::Mat> decoded;
    std::vector<cv::Mat> reference;
    std::vector<double> cpu_ms;
    double jpeg_bytes = 0, h264_bytes = 0, key_bytes = 0, delta_bytes = 0;
    int keys = 0;
    std::string clip, video;
    const std::int64_t start_ms = 1'765'000'000'000;
    for (int i = 0; i < frames; ++i) {
      double t = static_cast<double>(i) / fps;
      std::string jpeg = encode_jpeg(ds::worker::apply_look(camera(wide, t, rng), *look, 0));
      std::int64_t before = thread_cpu_ns();
      auto unit = encoder.encode_jpeg(jpeg, start_ms + i * 1000 / fps);
      cpu_ms.push_back(static_cast<double>(thread_cpu_ns() - before) / 1e6);
      if (!unit) {
        std::fprintf(stderr, "encode failed: %s\n", unit.error().message.c_str());
        return 1;
      }
      jpeg_bytes += static_cast<double>(jpeg.size());
      h264_bytes += static_cast<double>(unit->bytes());
      (unit->keyframe ? key_bytes : delta_bytes) += static_cast<double>(unit->bytes());
      keys += unit->keyframe ? 1 : 0;
      reference.push_back(gray_of_jpeg(jpeg));
      decoder.decode(unit->data, decoded);
      if (!out_dir.empty()) {
        clip += jpeg;
        video += unit->data;
      }
    }
    decoder.finish(decoded);
    if (decoded.size() != reference.size()) {
      std::fprintf(stderr, "decoded %zu pictures of %zu\n", decoded.size(), reference.size());
      return 1;
    }
    std::vector<double> scores;
    for (std::size_t i = 0; i < decoded.size(); ++i)
      scores.push_back(ssim(decoded[i], reference[i]));
    if (!out_dir.empty()) {
      write_file(out_dir + "/clip_" + std::to_string(fps) + ".mjpeg", clip);
      write_file(out_dir + "/video_" + std::to_string(fps) + ".h264", video);
    }
    double n = frames;
    double cpu_mean = mean(cpu_ms);
    std::printf(
        "| %d | %d | %.0f | %.0f (%.0f / %.0f) | %.2f× | %.0f | %.0f | %.3f / %.3f | "
        "%.2f / %.2f | %.1f %% of a core |\n",
        fps, frames, jpeg_bytes / n, h264_bytes / n, keys ? key_bytes / keys : 0,
        frames > keys ? delta_bytes / (n - keys) : 0, jpeg_bytes / h264_bytes,
        jpeg_bytes / n * fps * 8 / 1000, h264_bytes / n * fps * 8 / 1000, mean(scores),
        pct(scores, 0), cpu_mean, pct(cpu_ms, 99), cpu_mean * fps / 10.0);
    std::fflush(stdout);
  }
  return 0;
}
