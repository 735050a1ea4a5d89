// The OpenCV stylisation backend: decode, draw the prompt's look, blend by strength, encode.
#include <chrono>
#include <limits>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <thread>
#include <vector>

#include "domain/jpeg.hpp"
#include "worker/backend.hpp"
#include "worker/looks.hpp"

namespace ds::worker {
namespace {

constexpr int kMaxSide = 4096;  // the protocol's frame limit
constexpr int kJpegQuality = 80;

using Ms = std::chrono::duration<double, std::milli>;

double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return Ms(std::chrono::steady_clock::now() - since).count();
}

class CpuBackend final : public Backend {
 public:
  CpuBackend(int simulate_ms, int simulate_batch_extra_ms)
      : simulate_ms_(std::max(0, simulate_ms)),
        simulate_batch_extra_ms_(std::max(0, simulate_batch_extra_ms)) {}

  std::string name() const override { return "cpu"; }

  Expected<std::string> process(std::string_view jpeg, const JobParams& params) override {
    Timings ignored;
    return process_timed(jpeg, params, ignored);
  }

  Expected<std::string> process_timed(std::string_view jpeg, const JobParams& params,
                                      Timings& timings) override {
    timings = Timings{};
    auto out = run(jpeg, params, timings);
    if (out) simulate(1, timings);  // an undecodable frame never reaches the model
    return out;
  }

  std::vector<Expected<std::string>> process_batch(std::span<const BatchItem> items,
                                                   Timings& timings) override {
    timings = Timings{};
    std::vector<Expected<std::string>> outs;
    outs.reserve(items.size());
    std::size_t decoded = 0;
    for (const auto& item : items) {
      outs.push_back(run(item.jpeg, *item.params, timings));
      if (outs.back()) ++decoded;
    }
    simulate(decoded, timings);
    return outs;
  }

 private:
  // The simulated model latency of one call over `frames` frames, counted as inference.
  void simulate(std::size_t frames, Timings& timings) const {
    if (frames == 0) return;
    auto ms = simulate_ms_ + simulate_batch_extra_ms_ * static_cast<std::int64_t>(frames - 1);
    if (ms <= 0) return;
    auto started = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    timings.infer_ms += elapsed_ms(started);
  }

  // Decodes, stylises and encodes one frame, adding its times to `timings`.
  static Expected<std::string> run(std::string_view jpeg, const JobParams& params,
                                   Timings& timings) {
    auto started = std::chrono::steady_clock::now();
    // Checked before decoding: a truncated frame or a huge claimed size never reaches libjpeg.
    domain::JpegLimits limits{std::numeric_limits<std::size_t>::max(), kMaxSide};
    if (auto valid = domain::validate_jpeg(jpeg, limits); !valid) return valid.error();
    cv::Mat image;
    try {
      cv::Mat encoded(1, static_cast<int>(jpeg.size()), CV_8U,
                      const_cast<char*>(jpeg.data()));  // imdecode only reads it
      image = cv::imdecode(encoded, cv::IMREAD_COLOR);
    } catch (const cv::Exception&) {
      image.release();
    }
    if (image.empty()) return bad_request("the JPEG image could not be decoded", "bad_frame");
    timings.decode_ms += elapsed_ms(started);

    started = std::chrono::steady_clock::now();
    cv::Mat out = stylise(image, params);
    timings.infer_ms += elapsed_ms(started);

    started = std::chrono::steady_clock::now();
    std::vector<uchar> buffer;
    if (!cv::imencode(".jpg", out, buffer, {cv::IMWRITE_JPEG_QUALITY, kJpegQuality})) {
      return Error{ErrorKind::kInternal, "encode_failed", "could not encode the output JPEG"};
    }
    timings.encode_ms += elapsed_ms(started);
    return std::string(buffer.begin(), buffer.end());
  }

  static Look choose_look(const JobParams& params) {
    // An explicit "look" (one of look_name()) overrides the prompt; handy for demos and tests.
    if (auto it = params.extra.find("look"); it != params.extra.end() && it->is_string()) {
      if (auto look = look_from_name(it->get<std::string>())) return *look;
    }
    return look_for_prompt(params.prompt);
  }

  static cv::Mat stylise(const cv::Mat& image, const JobParams& params) {
    double strength = std::clamp(params.strength, 0.0, 1.0);
    if (strength <= 0.0) return image;
    cv::Mat styled = apply_look(image, choose_look(params), params.seed);
    if (strength >= 1.0) return styled;
    cv::Mat out;
    cv::addWeighted(image, 1.0 - strength, styled, strength, 0.0, out);
    return out;
  }

  std::int64_t simulate_ms_;
  std::int64_t simulate_batch_extra_ms_;
};

}  // namespace

Expected<std::string> Backend::process_timed(std::string_view jpeg, const JobParams& params,
                                             Timings& timings) {
  auto started = std::chrono::steady_clock::now();
  auto out = process(jpeg, params);
  timings = Timings{};
  timings.infer_ms = elapsed_ms(started);
  return out;
}

std::vector<Expected<std::string>> Backend::process_batch(std::span<const BatchItem> items,
                                                          Timings& timings) {
  timings = Timings{};
  std::vector<Expected<std::string>> outs;
  outs.reserve(items.size());
  for (const auto& item : items) {
    Timings one;
    outs.push_back(process_timed(item.jpeg, *item.params, one));
    timings.decode_ms += one.decode_ms;
    timings.infer_ms += one.infer_ms;
    timings.encode_ms += one.encode_ms;
  }
  return outs;
}

std::unique_ptr<Backend> make_cpu_backend(int simulate_ms, int simulate_batch_extra_ms) {
  return std::make_unique<CpuBackend>(simulate_ms, simulate_batch_extra_ms);
}

}  // namespace ds::worker
