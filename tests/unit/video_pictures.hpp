// Pictures for the video tests: the worker tests' scene with a block that moves a little each
// picture, as JPEGs (what the encoder takes), and access units made up for the pure rules.
#pragma once

#include <memory>
#include <opencv2/imgproc.hpp>
#include <string>

#include "video/access_unit.hpp"
#include "worker_test_images.hpp"

namespace ds::video::testing {

inline std::string moving_jpeg(int i, int width = 320, int height = 240, int quality = 85) {
  cv::Mat img = ds::worker::testing::test_scene(width, height, i + 1);
  int x = (i * 7) % std::max(1, width - 40);
  cv::rectangle(img, {x, height / 3}, {x + 40, height / 3 + 30}, {20, 30, 220}, cv::FILLED);
  return ds::worker::testing::encode_jpeg(img, quality);
}

inline std::shared_ptr<const AccessUnit> fake_unit(std::int64_t pts_ms, bool keyframe,
                                                   std::size_t bytes = 100) {
  auto u = std::make_shared<AccessUnit>();
  u->pts_ms = pts_ms;
  u->keyframe = keyframe;
  u->config = keyframe;
  u->data.assign(bytes, '\x01');
  return u;
}

}  // namespace ds::video::testing
