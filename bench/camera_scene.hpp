// The camera scene the benchmarks pan across (bench/skip_frames, bench/video_bytes): one
// definition, so their figures describe the same pictures.
#pragma once

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

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

}  // namespace ds::bench
