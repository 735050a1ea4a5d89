// The camera of the skipping benchmark (bench/skip.py, docs/performance.md "Skipping unchanged
// frames"): writes --still-s seconds of a still camera (one scene under fresh sensor noise,
// re-encoded each frame) then --moving-s seconds of a panning one, at --fps, as
// DIR/000000.jpg…, and prints JSON with the thumbnail change scores the hub would see.
//   skip_frames --out DIR [--fps 30] [--still-s 20] [--moving-s 20] [--noise 4]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "camera_scene.hpp"
#include "domain/similarity.hpp"
#include "worker/thumbnail.hpp"

namespace {

using ds::bench::panorama;

std::string encode(const cv::Mat& img, int quality) {
  std::vector<uchar> buf;
  cv::imencode(".jpg", img, buf, {cv::IMWRITE_JPEG_QUALITY, quality});
  return {buf.begin(), buf.end()};
}

cv::Mat with_noise(const cv::Mat& img, double sigma, cv::RNG& rng) {
  cv::Mat noise(img.size(), CV_16SC3);
  rng.fill(noise, cv::RNG::NORMAL, 0, sigma);
  cv::Mat out;
  img.convertTo(out, CV_16SC3);
  out += noise;
  out.convertTo(out, CV_8UC3);
  return out;
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

void print_scores(const char* name, const std::vector<double>& v, bool last) {
  std::printf(R"("%s":{"n":%zu,"min":%.4f,"p50":%.4f,"p99":%.4f,"max":%.4f}%s)", name, v.size(),
              pct(v, 0), pct(v, 50), pct(v, 99), pct(v, 100), last ? "" : ",");
}

}  // namespace

int main(int argc, char** argv) {
  std::string out;
  double fps = 30, still_s = 20, moving_s = 20, sigma = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    double v = std::atof(argv[i + 1]);
    if (k == "--out") out = argv[i + 1];
    if (k == "--fps") fps = v;
    if (k == "--still-s") still_s = v;
    if (k == "--moving-s") moving_s = v;
    if (k == "--noise") sigma = v;
  }
  if (out.empty()) {
    std::fprintf(stderr,
                 "usage: skip_frames --out DIR [--fps 30] [--still-s 20] "
                 "[--moving-s 20] [--noise 4]\n");
    return 2;
  }
  const int w = 640, h = 480;
  const int n_still = static_cast<int>(still_s * fps);
  const int n_moving = static_cast<int>(moving_s * fps);
  // A pan of 240 px/s (8 px a frame at 30 fps): a slow camera move.
  const double pan_px = 240.0 / fps;
  cv::Mat wide = panorama(w + static_cast<int>(pan_px * n_moving) + 2, h);
  cv::RNG rng(11);
  ds::domain::Thumbnail first_still{}, previous{};
  std::vector<double> still_vs_first, moving_vs_previous, still_vs_previous;
  double thumb_us = 0;
  for (int i = 0; i < n_still + n_moving; ++i) {
    int x = i < n_still ? 0 : static_cast<int>((i - n_still + 1) * pan_px);
    cv::Mat frame = with_noise(wide(cv::Rect(x, 0, w, h)), sigma, rng);
    // Webcams vary their JPEG quality with the bit rate: so do we, a little.
    auto jpeg = encode(frame, 75 + (i % 3) * 5);
    char name[32];
    std::snprintf(name, sizeof name, "/%06d.jpg", i);
    if (FILE* f = std::fopen((out + name).c_str(), "wb")) {
      std::fwrite(jpeg.data(), 1, jpeg.size(), f);
      std::fclose(f);
    }
    // CPU time, not wall time: the figure holds on a loaded machine.
    auto t0 = std::clock();
    auto thumb = ds::worker::make_thumbnail(jpeg);
    thumb_us += 1e6 * static_cast<double>(std::clock() - t0) / CLOCKS_PER_SEC;
    if (!thumb) return 1;
    if (i == 0) first_still = *thumb;
    if (i > 0 && i < n_still) {
      still_vs_first.push_back(ds::domain::change_between(first_still, *thumb));
      still_vs_previous.push_back(ds::domain::change_between(previous, *thumb));
    }
    if (i > n_still) moving_vs_previous.push_back(ds::domain::change_between(previous, *thumb));
    previous = *thumb;
  }
  std::printf(R"({"frames":%d,"still":%d,"moving":%d,"thumbnail_us":%.0f,)", n_still + n_moving,
              n_still, n_moving, thumb_us / (n_still + n_moving));
  print_scores("still_vs_first", still_vs_first, false);
  print_scores("still_vs_previous", still_vs_previous, false);
  print_scores("moving_vs_previous", moving_vs_previous, true);
  std::printf("}\n");
  return 0;
}
