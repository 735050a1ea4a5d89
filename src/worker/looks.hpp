// The CPU backend's looks: which one a prompt asks for, and the image filters that draw them.
#pragma once

#include <array>
#include <cstdint>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace ds::worker {

enum class Look {
  kToon,
  kPencil,
  kOil,
  kWatercolour,
  kNeon,
  kThermal,
  kPixel,
  kPopArt,
  kVintage,
  kGlitch,
};

inline constexpr std::array<Look, 10> kAllLooks = {
    Look::kToon,    Look::kPencil, Look::kOil,    Look::kWatercolour, Look::kNeon,
    Look::kThermal, Look::kPixel,  Look::kPopArt, Look::kVintage,     Look::kGlitch,
};

// A short stable name ("toon", "pencil", "oil", "watercolour", ...), used in logs and
// `params.look`.
std::string_view look_name(Look look);
std::optional<Look> look_from_name(std::string_view name);

// Lower-case ASCII, every run of other characters one space, trimmed: "8-Bit  Art!" -> "8 bit art".
std::string normalise_prompt(std::string_view prompt);

// 64-bit FNV-1a: the same value on every platform and every run (std::hash promises neither).
std::uint64_t stable_hash(std::string_view text);

// Picks the look a prompt asks for by keywords ("cartoon" -> toon, "pencil sketch" -> pencil,
// ...). The look with the highest keyword weight wins, ties go to the earliest keyword in the
// prompt. A prompt with no keyword maps to one look by stable_hash of its normalised text; an
// empty prompt gets the toon look.
Look look_for_prompt(std::string_view prompt);

// Draws `look` over a BGR 8-bit image; the result has the same size and type. `seed` varies the
// looks that use randomness (paper texture, glitch bands, neon hues) deterministically.
cv::Mat apply_look(const cv::Mat& bgr, Look look, std::int64_t seed = 0);

}  // namespace ds::worker
