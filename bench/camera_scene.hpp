// The camera scene the benchmarks pan across (bench/skip_frames, bench/video_bytes,
// bench/hls_segmenting): one definition, so their figures describe the same pictures.
#pragma once

#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <numeric>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

namespace ds::bench {

// A wide landscape with shapes and text, so a 640×480 window panning across it always sees
// edges, flat areas and texture.
inline cv::Mat panorama(int width, int height) {
  cv::Mat img(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      img.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>(230 - y * 120 / height),
                                          static_cast<uchar>(180 - y * 100 / height),
                                          static_cast<uchar>(120 + (x % 640) * 80 / 640));
    }
  }
  cv::RNG rng(7);
  // As dense everywhere as in a room: a window never pans over a blank stretch.
  for (int i = 0; i < width / 25; ++i) {
    cv::Point c(rng.uniform(0, width), rng.uniform(0, height));
    cv::Scalar colour(rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255));
    if (i % 2) {
      cv::circle(img, c, rng.uniform(15, 60), colour, cv::FILLED, cv::LINE_AA);
    } else {
      cv::rectangle(img, c, c + cv::Point(rng.uniform(20, 90), rng.uniform(20, 90)), colour,
                    cv::FILLED);
    }
  }
  for (int x = 20; x < width; x += 300) {
    cv::putText(img, "DreamStream", {x, 60}, cv::FONT_HERSHEY_DUPLEX, 1.2, {255, 255, 255}, 2);
  }
  return img;
}

constexpr int kCameraWidth = 640;
constexpr int kCameraHeight = 480;
constexpr int kJpegQuality = 80;  // the built-in worker's (worker/cpu_backend.cpp)

// The camera at time t (seconds) over a panorama of at least 640 + 60 t px: a pan of 60 px/s
// with a figure in front that sways and nods, and fresh sensor noise (σ 4) every frame.
inline cv::Mat camera(const cv::Mat& wide, double t, cv::RNG& rng) {
  int x = static_cast<int>(60.0 * t) % (wide.cols - kCameraWidth);
  cv::Mat frame = wide(cv::Rect(x, 0, kCameraWidth, kCameraHeight)).clone();
  cv::Point head(320 + static_cast<int>(60 * std::sin(t * 1.3)),
                 220 + static_cast<int>(15 * std::sin(t * 2.1)));
  cv::ellipse(frame, head + cv::Point(0, 190), {130, 110}, 0, 180, 360, {90, 60, 50}, cv::FILLED,
              cv::LINE_AA);
  cv::ellipse(frame, head, {70, 90}, 10 * std::sin(t), 0, 360, {150, 180, 225}, cv::FILLED,
              cv::LINE_AA);
  cv::circle(frame, head + cv::Point(-25, -15), 8, {40, 40, 40}, cv::FILLED, cv::LINE_AA);
  cv::circle(frame, head + cv::Point(25, -15), 8, {40, 40, 40}, cv::FILLED, cv::LINE_AA);
  cv::ellipse(frame, head + cv::Point(0, 35), {25, 8 + static_cast<int>(6 * std::sin(t * 5))}, 0, 0,
              180, {60, 60, 160}, 3, cv::LINE_AA);
  cv::Mat noise(frame.size(), CV_16SC3);
  rng.fill(noise, cv::RNG::NORMAL, 0, 4);
  cv::Mat out;
  frame.convertTo(out, CV_16SC3);
  out += noise;
  out.convertTo(out, CV_8UC3);
  return out;
}

// A picture as the built-in worker's JPEG.
inline std::string encode_jpeg(const cv::Mat& img) {
  std::vector<uchar> buf;
  cv::imencode(".jpg", img, buf, {cv::IMWRITE_JPEG_QUALITY, kJpegQuality});
  return {buf.begin(), buf.end()};
}

// CPU time of the calling thread (what a step cost, whatever else the machine runs).
inline std::int64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Frame rates given as a list ("10,30").
inline std::vector<int> rates_of(const std::string& list) {
  std::vector<int> out;
  std::size_t at = 0;
  while (at <= list.size()) {
    std::size_t comma = std::min(list.find(',', at), list.size());
    out.push_back(std::atoi(list.substr(at, comma - at).c_str()));
    at = comma + 1;
  }
  return out;
}

// The options of the benches that encode the camera clip: --seconds, --fps (a list), --look.
struct ClipOptions {
  double seconds = 20;
  std::vector<int> rates{10, 30};
  std::string look = "toon";

  // Takes option k with value v when it is one of these.
  bool take(const std::string& k, const std::string& v) {
    if (k == "--seconds") {
      seconds = std::atof(v.c_str());
    } else if (k == "--fps") {
      rates = rates_of(v);
    } else if (k == "--look") {
      look = v;
    } else {
      return false;
    }
    return true;
  }
};

// The p-th percentile (nearest rank) and the mean.
inline double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

inline double mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

}  // namespace ds::bench
