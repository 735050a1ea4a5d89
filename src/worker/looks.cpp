#include "worker/looks.hpp"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <functional>
#include <opencv2/imgproc.hpp>
#include <vector>

// Every look works on a downscaled copy where the filter is costly (bilateral, blurs), so one
// 640x480 frame stays within a few tens of milliseconds on one core.

namespace ds::worker {
namespace {

struct Keyword {
  std::string_view text;  // normalised; matches at the start of a word ("sketch" in "sketchy")
  int weight;             // 2 = says what it wants, 1 = a hint
};

struct LookInfo {
  Look look;
  std::string_view name;
  std::vector<Keyword> keywords;
};

const std::vector<LookInfo>& look_table() {
  static const std::vector<LookInfo> table = {
      {Look::kToon,
       "toon",
       {{"cartoon", 2},
        {"toon", 2},
        {"comic", 2},
        {"anime", 2},
        {"manga", 2},
        {"cel shaded", 2},
        {"pixar", 2},
        {"simpsons", 2},
        {"animated", 1},
        {"disney", 1}}},
      {Look::kPencil,
       "pencil",
       {{"sketch", 2},
        {"pencil", 2},
        {"drawing", 2},
        {"charcoal", 2},
        {"graphite", 2},
        {"line art", 2},
        {"drawn", 1},
        {"ink", 1},
        {"doodle", 1}}},
      {Look::kOil,
       "oil",
       {{"oil", 2},
        {"van gogh", 2},
        {"impressionis", 2},
        {"impasto", 2},
        {"rembrandt", 2},
        {"painting", 1},
        {"painted", 1},
        {"canvas", 1},
        {"stylis", 1},
        {"styliz", 1},
        {"renaissance", 1},
        {"baroque", 1},
        {"monet", 1}}},
      {Look::kWatercolour,
       "watercolour",
       {{"watercolour", 3},
        {"watercolor", 3},
        {"water colour", 3},
        {"water color", 3},
        {"aquarelle", 3},
        {"gouache", 2},
        {"pastel", 2},
        {"wash", 1},
        {"soft", 1},
        {"dreamy", 1}}},
      {Look::kNeon,
       "neon",
       {{"neon", 2},
        {"cyberpunk", 2},
        {"glow", 2},
        {"tron", 2},
        {"synthwave", 2},
        {"blade runner", 2},
        {"vaporwave", 1},
        {"laser", 1},
        {"electric", 1},
        {"edges", 1},
        {"outline", 1}}},
      {Look::kThermal,
       "thermal",
       {{"thermal", 2},
        {"heat", 2},
        {"infrared", 2},
        {"predator", 2},
        {"flir", 2},
        {"temperature", 1}}},
      {Look::kPixel,
       "pixel",
       {{"pixel", 2},
        {"8 bit", 2},
        {"8bit", 2},
        {"16 bit", 2},
        {"16bit", 2},
        {"retro game", 2},
        {"minecraft", 2},
        {"arcade", 1},
        {"mosaic", 1},
        {"lego", 1},
        {"gameboy", 1}}},
      {Look::kPopArt,
       "popart",
       {{"pop art", 3},
        {"popart", 3},
        {"warhol", 3},
        {"lichtenstein", 2},
        {"poster", 1},
        {"halftone", 1}}},
      {Look::kVintage,
       "vintage",
       {{"vintage", 2},
        {"sepia", 2},
        {"old photo", 2},
        {"antique", 2},
        {"daguerreotype", 2},
        {"victorian", 1},
        {"western", 1},
        {"faded", 1},
        {"retro", 1},
        {"1920", 1},
        {"film", 1}}},
      {Look::kGlitch,
       "glitch",
       {{"glitch", 2},
        {"vhs", 2},
        {"datamosh", 2},
        {"corrupt", 1},
        {"distort", 1},
        {"static", 1},
        {"matrix", 1},
        {"broken", 1}}},
  };
  return table;
}

// Position of `word` at the start of a word of `text` (both normalised), or npos.
std::size_t find_word_start(std::string_view text, std::string_view word) {
  for (std::size_t pos = text.find(word); pos != std::string_view::npos;
       pos = text.find(word, pos + 1)) {
    if (pos == 0 || text[pos - 1] == ' ') return pos;
  }
  return std::string_view::npos;
}

cv::Mat resized(const cv::Mat& src, double factor, int interpolation = cv::INTER_AREA) {
  cv::Size size(std::max(1, static_cast<int>(std::lround(src.cols * factor))),
                std::max(1, static_cast<int>(std::lround(src.rows * factor))));
  cv::Mat out;
  cv::resize(src, out, size, 0, 0, interpolation);
  return out;
}

cv::Mat to_gray(const cv::Mat& bgr) {
  cv::Mat gray;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  return gray;
}

cv::Mat lut_from(const std::function<double(int)>& f) {
  cv::Mat lut(1, 256, CV_8U);
  for (int i = 0; i < 256; ++i) lut.at<uchar>(i) = cv::saturate_cast<uchar>(f(i));
  return lut;
}

void scale_saturation(cv::Mat& bgr, double factor) {
  cv::Mat hsv;
  cv::cvtColor(bgr, hsv, cv::COLOR_BGR2HSV);
  std::vector<cv::Mat> ch;
  cv::split(hsv, ch);
  ch[1].convertTo(ch[1], CV_8U, factor);
  cv::merge(ch, hsv);
  cv::cvtColor(hsv, bgr, cv::COLOR_HSV2BGR);
}

// Flat colour areas with dark ink outlines.
cv::Mat toon(const cv::Mat& src) {
  cv::Mat small = resized(src, 0.5);
  cv::Mat smooth;
  cv::bilateralFilter(small, smooth, 7, 60, 5);
  scale_saturation(smooth, 1.5);
  cv::Mat colour;
  cv::resize(smooth, colour, src.size(), 0, 0, cv::INTER_LINEAR);
  static const cv::Mat kPosterise = lut_from([](int v) { return (v / 48) * 48 + 32; });
  cv::LUT(colour, kPosterise, colour);

  cv::Mat gray = to_gray(small);
  cv::medianBlur(gray, gray, 5);
  cv::Mat edges;
  cv::adaptiveThreshold(gray, edges, 255, cv::ADAPTIVE_THRESH_MEAN_C, cv::THRESH_BINARY, 9, 4);
  cv::resize(edges, edges, src.size(), 0, 0, cv::INTER_LINEAR);
  colour.setTo(cv::Scalar(25, 20, 20), edges < 128);
  return colour;
}

// Graphite on warm paper: a colour-dodge of the image with its blurred negative.
cv::Mat pencil(const cv::Mat& src) {
  cv::Mat gray = to_gray(src);
  cv::Mat negative = resized(255 - gray, 0.5);
  cv::GaussianBlur(negative, negative, cv::Size(), 5);
  cv::resize(negative, negative, src.size(), 0, 0, cv::INTER_LINEAR);
  cv::Mat sketch;
  cv::divide(gray, 255 - negative, sketch, 256.0);
  static const cv::Mat kDarkenStrokes =
      lut_from([](int v) { return 255.0 * std::pow(v / 255.0, 2.2); });
  cv::LUT(sketch, kDarkenStrokes, sketch);
  cv::Mat out;
  cv::cvtColor(sketch, out, cv::COLOR_GRAY2BGR);
  cv::multiply(out, cv::Scalar(0.86, 0.95, 1.0), out);
  return out;
}

// Thick brush strokes: blotchy colour blobs, rich saturation, and embossed diagonal streaks
// for the relief of the paint.
cv::Mat oil(const cv::Mat& src, std::int64_t seed) {
  cv::Mat small = resized(src, 0.5);
  cv::medianBlur(small, small, 7);
  static const cv::Mat kBrush = cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(7, 7));
  cv::morphologyEx(small, small, cv::MORPH_OPEN, kBrush);
  cv::morphologyEx(small, small, cv::MORPH_CLOSE, kBrush);
  scale_saturation(small, 1.35);
  cv::Mat out;
  cv::resize(small, out, src.size(), 0, 0, cv::INTER_CUBIC);

  cv::Mat streaks(small.size(), CV_8U);
  cv::RNG rng(static_cast<std::uint64_t>(seed) ^ 0x011ULL);
  rng.fill(streaks, cv::RNG::UNIFORM, 0, 256);
  static const cv::Mat kStroke = cv::Mat::eye(7, 7, CV_32F) / 7.0;
  cv::filter2D(streaks, streaks, -1, kStroke);
  cv::resize(streaks, streaks, src.size(), 0, 0, cv::INTER_LINEAR);
  cv::Mat height;
  cv::addWeighted(to_gray(out), 0.6, streaks, 0.5, 0, height);

  // A light from the top left raises the strokes.
  static const cv::Mat kEmboss = (cv::Mat_<float>(3, 3) << -2, -1, 0, -1, 0, 1, 0, 1, 2);
  cv::Mat relief;
  cv::filter2D(height, relief, CV_16S, kEmboss);
  cv::Mat relief_bgr;
  cv::merge(std::vector<cv::Mat>{relief, relief, relief}, relief_bgr);
  cv::Mat out16;
  out.convertTo(out16, CV_16SC3);
  cv::scaleAdd(relief_bgr, 0.8, out16, out16);
  out16.convertTo(out, CV_8UC3, 1.1, -12);
  return out;
}

// Soft pigment washes on paper: heavy smoothing at low resolution, pastel lift, darker rims.
cv::Mat watercolour(const cv::Mat& src, std::int64_t seed) {
  cv::Mat small = resized(src, 0.25);
  cv::Mat a, b;
  cv::bilateralFilter(small, a, 5, 40, 5);
  cv::bilateralFilter(a, b, 5, 40, 5);
  cv::medianBlur(b, b, 3);
  cv::Mat out;
  cv::resize(b, out, src.size(), 0, 0, cv::INTER_CUBIC);
  out.convertTo(out, CV_8UC3, 0.75, 255 * 0.27);

  // Pigment pools at the edges of each wash.
  cv::Mat gray = to_gray(b);
  cv::Mat edges;
  cv::Laplacian(gray, edges, CV_16S, 3);
  cv::convertScaleAbs(edges, edges, 0.7);
  cv::resize(edges, edges, src.size(), 0, 0, cv::INTER_LINEAR);
  cv::GaussianBlur(edges, edges, cv::Size(5, 5), 0);
  cv::Mat edges_bgr;
  cv::cvtColor(edges, edges_bgr, cv::COLOR_GRAY2BGR);
  cv::subtract(out, edges_bgr, out);

  // Paper grain: low-resolution noise, smoothly enlarged.
  cv::Mat grain(std::max(1, src.rows / 6), std::max(1, src.cols / 6), CV_8U);
  cv::RNG rng(static_cast<std::uint64_t>(seed) ^ 0x5eedULL);
  rng.fill(grain, cv::RNG::UNIFORM, 232, 256);
  cv::resize(grain, grain, src.size(), 0, 0, cv::INTER_CUBIC);
  cv::Mat grain_bgr;
  cv::cvtColor(grain, grain_bgr, cv::COLOR_GRAY2BGR);
  cv::multiply(out, grain_bgr, out, 1.0 / 255.0);
  return out;
}

// Glowing coloured outlines on a near-black scene.
cv::Mat neon(const cv::Mat& src, std::int64_t seed) {
  cv::Mat gray = to_gray(src);
  cv::GaussianBlur(gray, gray, cv::Size(5, 5), 0);
  cv::Mat edges;
  cv::Canny(gray, edges, 60, 160);
  cv::dilate(edges, edges, cv::Mat());

  // Vivid hue bands that sweep across the frame, shifted by the seed.
  cv::Mat hsv;
  cv::cvtColor(resized(src, 0.25), hsv, cv::COLOR_BGR2HSV);
  std::vector<cv::Mat> ch;
  cv::split(hsv, ch);
  int shift = static_cast<int>(static_cast<std::uint64_t>(seed) % 180);
  for (int y = 0; y < ch[0].rows; ++y) {
    auto* h = ch[0].ptr<uchar>(y);
    for (int x = 0; x < ch[0].cols; ++x) {
      h[x] =
          static_cast<uchar>((h[x] / 3 + (x + y) * 180 / (ch[0].cols + ch[0].rows) + shift) % 180);
    }
  }
  ch[1].setTo(255);
  ch[2].setTo(255);
  cv::merge(ch, hsv);
  cv::Mat vivid;
  cv::cvtColor(hsv, vivid, cv::COLOR_HSV2BGR);
  cv::resize(vivid, vivid, src.size(), 0, 0, cv::INTER_LINEAR);

  cv::Mat lines = cv::Mat::zeros(src.size(), src.type());
  vivid.copyTo(lines, edges);
  cv::Mat glow = resized(lines, 0.25);
  cv::GaussianBlur(glow, glow, cv::Size(), 2.5);
  cv::resize(glow, glow, src.size(), 0, 0, cv::INTER_LINEAR);

  cv::Mat out;
  src.convertTo(out, CV_8UC3, 0.12);
  cv::scaleAdd(glow, 1.3, out, out);
  cv::add(out, lines, out);
  return out;
}

// A thermal camera: brightness as temperature on the inferno palette.
cv::Mat thermal(const cv::Mat& src) {
  cv::Mat small = to_gray(resized(src, 0.5));
  cv::equalizeHist(small, small);
  cv::GaussianBlur(small, small, cv::Size(5, 5), 0);
  cv::Mat heat;
  cv::resize(small, heat, src.size(), 0, 0, cv::INTER_LINEAR);
  cv::Mat out;
  cv::applyColorMap(heat, out, cv::COLORMAP_INFERNO);
  return out;
}

// Chunky pixels in the 16-colour PICO-8 palette.
cv::Mat pixel_art(const cv::Mat& src) {
  static const std::array<cv::Vec3b, 16> kPalette = {
      cv::Vec3b{0, 0, 0},       cv::Vec3b{83, 43, 29},    cv::Vec3b{83, 37, 126},
      cv::Vec3b{81, 135, 0},    cv::Vec3b{54, 82, 171},   cv::Vec3b{79, 87, 95},
      cv::Vec3b{199, 195, 194}, cv::Vec3b{232, 241, 255}, cv::Vec3b{77, 0, 255},
      cv::Vec3b{0, 163, 255},   cv::Vec3b{39, 236, 255},  cv::Vec3b{54, 228, 0},
      cv::Vec3b{255, 173, 41},  cv::Vec3b{156, 118, 131}, cv::Vec3b{168, 119, 255},
      cv::Vec3b{170, 204, 255},
  };
  int block = std::max(4, src.cols / 80);
  cv::Mat small;
  cv::resize(src, small, cv::Size(std::max(1, src.cols / block), std::max(1, src.rows / block)), 0,
             0, cv::INTER_AREA);
  for (int y = 0; y < small.rows; ++y) {
    auto* p = small.ptr<cv::Vec3b>(y);
    for (int x = 0; x < small.cols; ++x) {
      int best = 0;
      int best_d = INT32_MAX;
      for (int i = 0; i < static_cast<int>(kPalette.size()); ++i) {
        int d = 0;
        for (int c = 0; c < 3; ++c) {
          int diff = int(p[x][c]) - int(kPalette[i][c]);
          d += diff * diff;
        }
        if (d < best_d) best_d = d, best = i;
      }
      p[x] = kPalette[best];
    }
  }
  cv::Mat out;
  cv::resize(small, out, src.size(), 0, 0, cv::INTER_NEAREST);
  return out;
}

// Four posterised copies in loud palettes, Warhol style.
cv::Mat pop_art(const cv::Mat& src) {
  static const std::array<std::array<cv::Vec3b, 4>, 4> kPalettes = {{
      {cv::Vec3b{90, 20, 40}, cv::Vec3b{180, 60, 230}, cv::Vec3b{40, 220, 255},
       cv::Vec3b{230, 250, 255}},
      {cv::Vec3b{60, 30, 10}, cv::Vec3b{40, 40, 230}, cv::Vec3b{220, 200, 40},
       cv::Vec3b{200, 255, 230}},
      {cv::Vec3b{20, 60, 20}, cv::Vec3b{230, 120, 30}, cv::Vec3b{80, 230, 250},
       cv::Vec3b{255, 230, 250}},
      {cv::Vec3b{50, 0, 80}, cv::Vec3b{30, 180, 60}, cv::Vec3b{200, 80, 255},
       cv::Vec3b{220, 255, 255}},
  }};
  int half_w = std::max(1, src.cols / 2), half_h = std::max(1, src.rows / 2);
  cv::Mat gray;
  cv::resize(to_gray(src), gray, cv::Size(half_w, half_h), 0, 0, cv::INTER_AREA);
  cv::equalizeHist(gray, gray);
  cv::Mat gray3;
  cv::cvtColor(gray, gray3, cv::COLOR_GRAY2BGR);
  cv::Mat sheet(half_h * 2, half_w * 2, CV_8UC3);
  for (int q = 0; q < 4; ++q) {
    cv::Mat lut(1, 256, CV_8UC3);
    for (int i = 0; i < 256; ++i) lut.at<cv::Vec3b>(i) = kPalettes[q][std::min(3, i / 64)];
    cv::Mat tile = sheet(cv::Rect((q % 2) * half_w, (q / 2) * half_h, half_w, half_h));
    cv::LUT(gray3, lut, tile);
  }
  if (sheet.size() == src.size()) return sheet;
  cv::Mat out;
  cv::resize(sheet, out, src.size(), 0, 0, cv::INTER_NEAREST);
  return out;
}

// An old print: sepia tones, faded contrast, a vignette and film grain.
cv::Mat vintage(const cv::Mat& src, std::int64_t seed) {
  static const cv::Matx33f kSepia(0.131f, 0.534f, 0.272f,   // B
                                  0.168f, 0.686f, 0.349f,   // G
                                  0.189f, 0.769f, 0.393f);  // R
  cv::Mat out;
  cv::transform(src, out, kSepia);
  out.convertTo(out, CV_8UC3, 0.8, 30);

  // Vignette at low resolution: 1 in the centre, ~0.45 in the corners.
  cv::Mat mask(std::max(1, src.rows / 8), std::max(1, src.cols / 8), CV_32F);
  for (int y = 0; y < mask.rows; ++y) {
    for (int x = 0; x < mask.cols; ++x) {
      double dx = (x + 0.5) / mask.cols - 0.5, dy = (y + 0.5) / mask.rows - 0.5;
      mask.at<float>(y, x) = static_cast<float>(1.0 - 1.1 * (dx * dx + dy * dy));
    }
  }
  cv::Mat grain(mask.size(), CV_32F);
  cv::RNG rng(static_cast<std::uint64_t>(seed) ^ 0xf11aULL);
  rng.fill(grain, cv::RNG::NORMAL, 0.0, 0.04);
  mask += grain;
  cv::resize(mask, mask, src.size(), 0, 0, cv::INTER_LINEAR);
  cv::Mat mask3;
  cv::cvtColor(mask, mask3, cv::COLOR_GRAY2BGR);
  cv::Mat outf;
  out.convertTo(outf, CV_32FC3);
  cv::multiply(outf, mask3, outf);
  outf.convertTo(out, CV_8UC3);
  return out;
}

// A damaged VHS tape: split colour channels, torn horizontal bands, scanlines.
cv::Mat glitch(const cv::Mat& src, std::int64_t seed) {
  int shift = std::max(2, src.cols / 60);
  std::vector<cv::Mat> ch;
  cv::split(src, ch);
  cv::Mat moved_b = cv::Mat::zeros(src.size(), CV_8U);
  cv::Mat moved_r = cv::Mat::zeros(src.size(), CV_8U);
  if (src.cols > shift) {
    ch[0](cv::Rect(shift, 0, src.cols - shift, src.rows))
        .copyTo(moved_b(cv::Rect(0, 0, src.cols - shift, src.rows)));
    ch[2](cv::Rect(0, 0, src.cols - shift, src.rows))
        .copyTo(moved_r(cv::Rect(shift, 0, src.cols - shift, src.rows)));
  }
  ch[0] = moved_b;
  ch[2] = moved_r;
  cv::Mat out;
  cv::merge(ch, out);

  cv::RNG rng(static_cast<std::uint64_t>(seed) ^ 0x91177ULL);
  int bands = 6 + rng.uniform(0, 5);
  for (int i = 0; i < bands && src.rows > 2; ++i) {
    int h = std::max(1, rng.uniform(src.rows / 60 + 1, src.rows / 12 + 2));
    int y = rng.uniform(0, std::max(1, src.rows - h));
    h = std::min(h, src.rows - y);
    int dx = rng.uniform(-src.cols / 8, src.cols / 8 + 1);
    cv::Mat band = out(cv::Rect(0, y, src.cols, h)).clone();
    int w = src.cols - std::abs(dx);
    if (w <= 0) continue;
    cv::Rect from(dx >= 0 ? 0 : -dx, 0, w, h), to(dx >= 0 ? dx : 0, y, w, h);
    band(from).copyTo(out(to));
    if (i % 2 == 0) out(cv::Rect(0, y, src.cols, h)) += cv::Scalar(40, 0, 40);
  }
  for (int y = 0; y < out.rows; y += 2) out.row(y) *= 0.6;
  return out;
}

}  // namespace

std::string_view look_name(Look look) {
  for (const auto& info : look_table()) {
    if (info.look == look) return info.name;
  }
  return "unknown";
}

std::optional<Look> look_from_name(std::string_view name) {
  std::string normalised = normalise_prompt(name);
  for (const auto& info : look_table()) {
    if (info.name == normalised) return info.look;
  }
  return std::nullopt;
}

std::string normalise_prompt(std::string_view prompt) {
  std::string out;
  out.reserve(prompt.size());
  bool space = false;
  for (char c : prompt) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) && u < 128) {
      if (space && !out.empty()) out += ' ';
      space = false;
      out += static_cast<char>(std::tolower(u));
    } else {
      space = true;
    }
  }
  return out;
}

std::uint64_t stable_hash(std::string_view text) {
  std::uint64_t h = 14695981039346656037ULL;
  for (char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

Look look_for_prompt(std::string_view prompt) {
  std::string text = normalise_prompt(prompt);
  if (text.empty()) return Look::kToon;
  const LookInfo* best = nullptr;
  int best_score = 0;
  std::size_t best_pos = std::string::npos;
  for (const auto& info : look_table()) {
    int score = 0;
    std::size_t first = std::string::npos;
    for (const auto& kw : info.keywords) {
      std::size_t pos = find_word_start(text, kw.text);
      if (pos == std::string::npos) continue;
      score += kw.weight;
      first = std::min(first, pos);
    }
    if (score > best_score || (score == best_score && score > 0 && first < best_pos)) {
      best = &info;
      best_score = score;
      best_pos = first;
    }
  }
  if (best) return best->look;
  return kAllLooks[stable_hash(text) % kAllLooks.size()];
}

cv::Mat apply_look(const cv::Mat& bgr, Look look, std::int64_t seed) {
  CV_Assert(bgr.type() == CV_8UC3 && !bgr.empty());
  switch (look) {
    case Look::kToon:
      return toon(bgr);
    case Look::kPencil:
      return pencil(bgr);
    case Look::kOil:
      return oil(bgr, seed);
    case Look::kWatercolour:
      return watercolour(bgr, seed);
    case Look::kNeon:
      return neon(bgr, seed);
    case Look::kThermal:
      return thermal(bgr);
    case Look::kPixel:
      return pixel_art(bgr);
    case Look::kPopArt:
      return pop_art(bgr);
    case Look::kVintage:
      return vintage(bgr, seed);
    case Look::kGlitch:
      return glitch(bgr, seed);
  }
  return bgr.clone();
}

}  // namespace ds::worker
