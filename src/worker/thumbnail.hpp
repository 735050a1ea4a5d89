// The grey thumbnail of a camera JPEG that the hub compares to skip unchanged frames
// (domain/similarity.hpp). Here because it decodes with OpenCV, which the live layer does not link.
#pragma once

#include <optional>
#include <string_view>

#include "domain/similarity.hpp"

namespace ds::worker {

// nullopt when the JPEG does not decode. About 0.6 ms of CPU for 640×480: the decoder reads
// only the grey channel and scales by 1/8 itself (DCT scaling), so most of the picture is
// never turned into pixels.
std::optional<domain::Thumbnail> make_thumbnail(std::string_view jpeg);

}  // namespace ds::worker
