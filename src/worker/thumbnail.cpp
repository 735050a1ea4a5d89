#include "worker/thumbnail.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace ds::worker {

std::optional<domain::Thumbnail> make_thumbnail(std::string_view jpeg) {
  using domain::Thumbnail;
  if (jpeg.empty()) return std::nullopt;
  // imdecode only reads the buffer.
  cv::Mat data(1, static_cast<int>(jpeg.size()), CV_8U, const_cast<char*>(jpeg.data()));
  cv::Mat grey;
  try {
    grey = cv::imdecode(data, cv::IMREAD_REDUCED_GRAYSCALE_8);
    // A small frame (under 256×192) at 1/8 would be smaller than the thumbnail.
    if (!grey.empty() && (grey.cols < Thumbnail::kWidth || grey.rows < Thumbnail::kHeight)) {
      grey = cv::imdecode(data, cv::IMREAD_GRAYSCALE);
    }
  } catch (const cv::Exception&) {
    return std::nullopt;
  }
  if (grey.empty()) return std::nullopt;
  Thumbnail t;
  cv::Mat small(Thumbnail::kHeight, Thumbnail::kWidth, CV_8U, t.pixels.data());
  // INTER_AREA averages whole blocks (noise cancels); a larger-than-thumbnail source only.
  cv::resize(grey, small, small.size(), 0, 0,
             grey.cols >= Thumbnail::kWidth ? cv::INTER_AREA : cv::INTER_LINEAR);
  return t;
}

}  // namespace ds::worker
