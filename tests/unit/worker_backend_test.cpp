// The CPU backend: every look is a valid, same-sized JPEG, looks differ, prompts pick looks.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "domain/jpeg.hpp"
#include "worker/backend.hpp"
#include "worker/looks.hpp"
#include "worker_test_images.hpp"

namespace ds::worker {
namespace {

using testing::decode_jpeg;
using testing::encode_jpeg;
using testing::mean_abs_diff;
using testing::test_scene;

JobParams look_params(Look look, double strength = 1.0) {
  JobParams p;
  p.strength = strength;
  p.extra["look"] = std::string(look_name(look));
  return p;
}

class CpuBackendTest : public ::testing::Test {
 protected:
  std::unique_ptr<Backend> backend_ = make_cpu_backend();
  std::string input_ = encode_jpeg(test_scene());
};

TEST_F(CpuBackendTest, EveryLookProducesJpegOfTheInputSize) {
  for (Look look : kAllLooks) {
    SCOPED_TRACE(std::string(look_name(look)));
    auto out = backend_->process(input_, look_params(look));
    ASSERT_TRUE(out.ok()) << out.error().message;
    auto info = domain::validate_jpeg(*out, {});
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->width, 640);
    EXPECT_EQ(info->height, 480);
    cv::Mat decoded = decode_jpeg(*out);
    ASSERT_FALSE(decoded.empty());
    EXPECT_EQ(decoded.size(), cv::Size(640, 480));
  }
}

TEST_F(CpuBackendTest, OddSizesAndTinyImagesKeepTheirSize) {
  for (cv::Size size : {cv::Size(333, 201), cv::Size(17, 9), cv::Size(1, 1), cv::Size(8, 600)}) {
    std::string jpeg = encode_jpeg(test_scene(size.width, size.height));
    for (Look look : kAllLooks) {
      SCOPED_TRACE(std::string(look_name(look)) + " " + std::to_string(size.width) + "x" +
                   std::to_string(size.height));
      auto out = backend_->process(jpeg, look_params(look));
      ASSERT_TRUE(out.ok()) << out.error().message;
      EXPECT_EQ(decode_jpeg(*out).size(), size);
    }
  }
}

TEST_F(CpuBackendTest, LooksAreClearlyDifferentFromEachOtherAndTheOriginal) {
  cv::Mat original = decode_jpeg(input_);
  std::map<Look, cv::Mat> outputs;
  for (Look look : kAllLooks) {
    auto out = backend_->process(input_, look_params(look));
    ASSERT_TRUE(out.ok());
    outputs[look] = decode_jpeg(*out);
    EXPECT_GT(mean_abs_diff(outputs[look], original), 12.0) << look_name(look);
  }
  for (Look a : kAllLooks) {
    for (Look b : kAllLooks) {
      if (a >= b) continue;
      EXPECT_GT(mean_abs_diff(outputs[a], outputs[b]), 12.0)
          << look_name(a) << " vs " << look_name(b);
    }
  }
}

TEST_F(CpuBackendTest, StrengthZeroKeepsTheOriginal) {
  cv::Mat original = decode_jpeg(input_);
  for (Look look : kAllLooks) {
    auto out = backend_->process(input_, look_params(look, 0.0));
    ASSERT_TRUE(out.ok());
    EXPECT_LT(mean_abs_diff(decode_jpeg(*out), original), 3.0) << look_name(look);
  }
}

TEST_F(CpuBackendTest, StrengthBlendsTheLookOverTheOriginal) {
  cv::Mat original = decode_jpeg(input_);
  for (Look look : {Look::kThermal, Look::kPencil, Look::kNeon}) {
    double weak =
        mean_abs_diff(decode_jpeg(*backend_->process(input_, look_params(look, 0.3))), original);
    double strong =
        mean_abs_diff(decode_jpeg(*backend_->process(input_, look_params(look, 1.0))), original);
    EXPECT_GT(weak, 3.0) << look_name(look);
    EXPECT_LT(weak, strong * 0.5) << look_name(look);
  }
}

TEST_F(CpuBackendTest, PromptChoosesTheLook) {
  JobParams by_prompt;
  by_prompt.prompt = "a pencil sketch of my cat";
  by_prompt.strength = 1.0;
  auto a = backend_->process(input_, by_prompt);
  auto b = backend_->process(input_, look_params(Look::kPencil));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
}

TEST_F(CpuBackendTest, OutputIsDeterministicForTheSameSeed) {
  JobParams p = look_params(Look::kGlitch);
  p.seed = 42;
  auto a = backend_->process(input_, p);
  auto b = backend_->process(input_, p);
  p.seed = 43;
  auto c = backend_->process(input_, p);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
}

TEST_F(CpuBackendTest, GarbageInputIsAnErrorNotACrash) {
  std::string png;
  {
    std::vector<uchar> buf;
    cv::imencode(".png", test_scene(64, 48), buf);
    png.assign(buf.begin(), buf.end());
  }
  std::string jpeg = encode_jpeg(test_scene());
  std::string corrupt_middle = jpeg;
  for (std::size_t i = jpeg.size() / 3; i < jpeg.size() / 3 + 2000; ++i) corrupt_middle[i] = 'x';
  std::vector<std::string> bad = {
      "",
      "hello",
      std::string("\xFF\xD8", 2),
      std::string("\xFF\xD8\xFF\xD9", 4),
      png,
      jpeg.substr(0, jpeg.size() / 2),  // truncated
      jpeg.substr(0, 200),              // headers only
      jpeg.substr(2),                   // no SOI
  };
  std::string random(5000, '\0');
  cv::RNG rng(7);
  for (char& c : random) c = static_cast<char>(rng.uniform(0, 256));
  bad.push_back(random);
  bad.push_back(std::string("\xFF\xD8", 2) + random);

  for (std::size_t i = 0; i < bad.size(); ++i) {
    auto out = backend_->process(bad[i], JobParams{});
    ASSERT_FALSE(out.ok()) << "case " << i;
    EXPECT_EQ(out.error().code, "bad_frame");
  }
  // A scrambled middle with intact markers decodes to something (libjpeg recovers); it must
  // not crash and, if it succeeds, must still keep the size.
  auto out = backend_->process(corrupt_middle, JobParams{});
  if (out.ok()) {
    EXPECT_EQ(decode_jpeg(*out).size(), cv::Size(640, 480));
  }
}

TEST_F(CpuBackendTest, OversizedImagesAreRejectedBeforeDecoding) {
  // Patch the frame header of a small JPEG to claim 5000x5000.
  std::string jpeg = encode_jpeg(test_scene(64, 48));
  std::size_t sof = jpeg.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  jpeg[sof + 5] = static_cast<char>(5000 >> 8);
  jpeg[sof + 6] = static_cast<char>(5000 & 0xFF);
  jpeg[sof + 7] = static_cast<char>(5000 >> 8);
  jpeg[sof + 8] = static_cast<char>(5000 & 0xFF);
  auto out = backend_->process(jpeg, JobParams{});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, "bad_frame");
}

TEST_F(CpuBackendTest, GrayscaleJpegGivesColourOutput) {
  cv::Mat gray;
  cv::cvtColor(test_scene(), gray, cv::COLOR_BGR2GRAY);
  auto out = backend_->process(encode_jpeg(gray), look_params(Look::kThermal));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(decode_jpeg(*out).size(), cv::Size(640, 480));
}

TEST_F(CpuBackendTest, TimingsAccountForEachStage) {
  Timings t;
  auto out = backend_->process_timed(input_, look_params(Look::kToon), t);
  ASSERT_TRUE(out.ok());
  EXPECT_GT(t.decode_ms, 0.0);
  EXPECT_GT(t.infer_ms, 0.0);
  EXPECT_GT(t.encode_ms, 0.0);
}

TEST(CpuBackend, SimulatedLatencyIsAddedToInference) {
  auto backend = make_cpu_backend(60);
  Timings t;
  auto started = std::chrono::steady_clock::now();
  auto out = backend->process_timed(encode_jpeg(test_scene(64, 48)), JobParams{}, t);
  ASSERT_TRUE(out.ok());
  EXPECT_GE(t.infer_ms, 60.0);
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(60));
}

TEST(CpuBackend, ABatchCostsOneCallPlusTheExtraPerFrame) {
  // One call costs 200 ms, each extra frame 20: far apart from a call per frame (3 x 200), so
  // the bounds below hold on a loaded machine whose sleeps overshoot.
  auto backend = make_cpu_backend(200, 20);
  std::string input = encode_jpeg(test_scene(64, 48));
  std::vector<JobParams> params(3);
  params[1].extra["look"] = "pixel";
  std::vector<BatchItem> items;
  for (const auto& p : params) items.push_back({input, &p});
  std::string bad = "not a jpeg";
  items.push_back({bad, &params[0]});
  Timings t;
  auto started = std::chrono::steady_clock::now();
  auto outs = backend->process_batch(items, t);
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(outs.size(), 4u);
  EXPECT_TRUE(outs[0].ok());
  EXPECT_TRUE(outs[2].ok());
  EXPECT_FALSE(outs[3].ok()) << "an undecodable frame fails alone";
  EXPECT_EQ(outs[3].error().code, "bad_frame");
  // Each answer is what process() makes of the same input and params.
  EXPECT_EQ(*outs[1], *make_cpu_backend()->process(input, params[1]));
  // 200 + 20 per decodable frame after the first, once for the whole call (not 600).
  EXPECT_GE(t.infer_ms, 240.0);
  EXPECT_LT(t.infer_ms, 500.0);
  EXPECT_GE(took, std::chrono::milliseconds(240));
  EXPECT_GT(t.decode_ms, 0.0);
}

// A backend with only process(): the default batch runs it once per item.
class CountingBackend : public Backend {
 public:
  std::string name() const override { return "counting"; }
  Expected<std::string> process(std::string_view jpeg, const JobParams& params) override {
    ++calls;
    if (jpeg.empty()) return bad_request("empty", "bad_frame");
    return std::string(jpeg) + "+" + params.prompt;
  }
  int calls = 0;
};

TEST(Backend, TheDefaultBatchProcessesEachItemInOrder) {
  CountingBackend backend;
  JobParams a, b;
  a.prompt = "a";
  b.prompt = "b";
  std::vector<BatchItem> items{{"x", &a}, {"", &b}, {"y", &b}};
  Timings t;
  auto outs = backend.process_batch(items, t);
  ASSERT_EQ(outs.size(), 3u);
  EXPECT_EQ(*outs[0], "x+a");
  EXPECT_FALSE(outs[1].ok());
  EXPECT_EQ(*outs[2], "y+b");
  EXPECT_EQ(backend.calls, 3);
  EXPECT_GE(t.infer_ms, 0.0);
}

TEST(CpuBackend, OneInstanceIsSafeToShareAcrossThreads) {
  auto backend = make_cpu_backend();
  std::string input = encode_jpeg(test_scene(320, 240));
  std::map<Look, std::string> expected;
  for (Look look : kAllLooks) expected[look] = *backend->process(input, look_params(look));
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        Look look = kAllLooks[(t + i) % kAllLooks.size()];
        auto out = backend->process(input, look_params(look));
        if (!out.ok() || *out != expected[look]) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(CpuBackend, NameIsCpu) { EXPECT_EQ(make_cpu_backend()->name(), "cpu"); }

TEST(LookForPrompt, KeywordsPickTheirLook) {
  const std::vector<std::pair<std::string, Look>> cases = {
      {"cartoon", Look::kToon},
      {"A Comic Book hero", Look::kToon},
      {"anime style portrait", Look::kToon},
      {"pencil sketch", Look::kPencil},
      {"charcoal drawing of a face", Look::kPencil},
      {"Sketchy lines", Look::kPencil},
      {"oil painting", Look::kOil},
      {"in the style of Van Gogh", Look::kOil},
      {"watercolour", Look::kWatercolour},
      {"a watercolor painting of a lake", Look::kWatercolour},
      {"neon cyberpunk city", Look::kNeon},
      {"glowing edges", Look::kNeon},
      {"thermal camera", Look::kThermal},
      {"infrared heat map", Look::kThermal},
      {"8-bit pixel art", Look::kPixel},
      {"retro game screenshot", Look::kPixel},
      {"Andy Warhol pop-art", Look::kPopArt},
      {"vintage sepia photo", Look::kVintage},
      {"VHS glitch", Look::kGlitch},
  };
  for (const auto& [prompt, look] : cases) {
    EXPECT_EQ(look_name(look_for_prompt(prompt)), look_name(look)) << prompt;
  }
}

TEST(LookForPrompt, KeywordsMatchOnlyAtWordStarts) {
  // "pink" contains "ink", "strong" contains "tron": neither is a keyword there.
  Look pink = look_for_prompt("pink flamingos");
  EXPECT_EQ(pink, kAllLooks[stable_hash("pink flamingos") % kAllLooks.size()]);
  Look strong = look_for_prompt("strong wind");
  EXPECT_EQ(strong, kAllLooks[stable_hash("strong wind") % kAllLooks.size()]);
}

TEST(LookForPrompt, TheStrongerKeywordWins) {
  // "painting" only hints at oil; "watercolour" says what it wants.
  EXPECT_EQ(look_for_prompt("painting in watercolour"), Look::kWatercolour);
  // Equal weight: the keyword that comes first decides.
  EXPECT_EQ(look_for_prompt("neon comic"), Look::kNeon);
  EXPECT_EQ(look_for_prompt("comic neon"), Look::kToon);
}

TEST(LookForPrompt, UnknownPromptsMapDeterministically) {
  std::set<Look> seen;
  for (int i = 0; i < 60; ++i) {
    std::string prompt = "a quiet afternoon number " + std::to_string(i);
    Look first = look_for_prompt(prompt);
    EXPECT_EQ(first, look_for_prompt(prompt));
    // Case, punctuation and spacing do not change the choice.
    EXPECT_EQ(first, look_for_prompt("  A QUIET afternoon, number " + std::to_string(i) + "!"));
    seen.insert(first);
  }
  EXPECT_GE(seen.size(), 5u) << "unknown prompts should spread over the looks";
}

TEST(LookForPrompt, EmptyPromptIsToon) {
  EXPECT_EQ(look_for_prompt(""), Look::kToon);
  EXPECT_EQ(look_for_prompt("  ,, "), Look::kToon);
}

TEST(StableHash, IsFnv1a64) {
  EXPECT_EQ(stable_hash(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(stable_hash("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(stable_hash("foobar"), 0x85944171f73967e8ULL);
}

TEST(NormalisePrompt, LowercasesAndCollapsesSeparators) {
  EXPECT_EQ(normalise_prompt("  8-Bit   ART!! "), "8 bit art");
  EXPECT_EQ(normalise_prompt("caf\xC3\xA9 noir"), "caf noir");
  EXPECT_EQ(normalise_prompt(""), "");
}

TEST(LookNames, RoundTrip) {
  std::set<std::string_view> names;
  for (Look look : kAllLooks) {
    names.insert(look_name(look));
    EXPECT_EQ(look_from_name(look_name(look)), look);
  }
  EXPECT_EQ(names.size(), kAllLooks.size());
  EXPECT_FALSE(look_from_name("nope").has_value());
  EXPECT_EQ(look_from_name("Toon"), Look::kToon);
}

TEST(ParamsFromJson, ReadsKnownKeysAndKeepsTheRest) {
  auto p = params_from_json(
      {{"prompt", "watercolour"}, {"strength", 0.25}, {"seed", 1234}, {"steps", 2}});
  EXPECT_EQ(p.prompt, "watercolour");
  EXPECT_DOUBLE_EQ(p.strength, 0.25);
  EXPECT_EQ(p.seed, 1234);
  EXPECT_EQ(p.extra, nlohmann::json({{"steps", 2}}));
}

TEST(ParamsFromJson, IsLenientAboutBadValues) {
  auto p = params_from_json({{"prompt", 5}, {"strength", "high"}, {"seed", "x"}});
  EXPECT_EQ(p.prompt, "");
  EXPECT_DOUBLE_EQ(p.strength, 0.6);
  EXPECT_EQ(p.seed, 0);
  EXPECT_DOUBLE_EQ(params_from_json({{"strength", 7}}).strength, 1.0);
  EXPECT_DOUBLE_EQ(params_from_json({{"strength", -1}}).strength, 0.0);
  EXPECT_EQ(params_from_json({{"seed", 12.9}}).seed, 12);
  EXPECT_EQ(params_from_json(nlohmann::json::array()).prompt, "");
  EXPECT_EQ(params_from_json(nullptr).seed, 0);
}

}  // namespace
}  // namespace ds::worker
