// Test pictures drawn in code (no binary fixtures): a small scene with gradients, shapes, text
// and noise, so every look has edges, flat areas and texture to work on.
#pragma once

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

namespace ds::worker::testing {

inline cv::Mat test_scene(int width = 640, int height = 480, int seed = 1) {
  cv::Mat img(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      img.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>(230 - y * 120 / height),
                                          static_cast<uchar>(180 - y * 100 / height),
                                          static_cast<uchar>(120 + x * 80 / width));
    }
  }
  auto px = [&](double fx) { return static_cast<int>(fx * width); };
  auto py = [&](double fy) { return static_cast<int>(fy * height); };
  cv::circle(img, {px(0.78), py(0.2)}, px(0.08), {60, 220, 255}, cv::FILLED);
  std::vector<cv::Point> hill{{0, height},         {0, py(0.69)},        {px(0.23), py(0.58)},
                              {px(0.5), py(0.71)}, {px(0.75), py(0.54)}, {width, py(0.67)},
                              {width, height}};
  cv::fillPoly(img, std::vector<std::vector<cv::Point>>{hill}, {60, 150, 70});
  cv::ellipse(img, {px(0.39), py(0.62)}, {px(0.09), py(0.17)}, 0, 0, 360, {150, 180, 230},
              cv::FILLED);
  cv::circle(img, {px(0.36), py(0.58)}, 8, {40, 40, 40}, cv::FILLED);
  cv::circle(img, {px(0.42), py(0.58)}, 8, {40, 40, 40}, cv::FILLED);
  cv::rectangle(img, {px(0.62), py(0.69)}, {px(0.88), py(0.92)}, {40, 60, 180}, cv::FILLED);
  cv::putText(img, "DreamStream", {px(0.05), py(0.12)}, cv::FONT_HERSHEY_DUPLEX, 1.2,
              {255, 255, 255}, 2);
  cv::Mat noise(img.size(), CV_8UC3);
  cv::RNG rng(seed);
  rng.fill(noise, cv::RNG::NORMAL, 0, 10);
  img += noise;
  cv::GaussianBlur(img, img, {3, 3}, 0);
  return img;
}

inline std::string encode_jpeg(const cv::Mat& img, int quality = 90) {
  std::vector<uchar> buf;
  cv::imencode(".jpg", img, buf, {cv::IMWRITE_JPEG_QUALITY, quality});
  return std::string(buf.begin(), buf.end());
}

inline cv::Mat decode_jpeg(const std::string& jpeg) {
  return cv::imdecode(std::vector<uchar>(jpeg.begin(), jpeg.end()), cv::IMREAD_COLOR);
}

// Mean absolute difference per channel value, 0..255.
inline double mean_abs_diff(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat diff;
  cv::absdiff(a, b, diff);
  cv::Scalar m = cv::mean(diff);
  return (m[0] + m[1] + m[2]) / 3.0;
}

}  // namespace ds::worker::testing
