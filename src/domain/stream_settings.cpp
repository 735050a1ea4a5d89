#include "domain/stream_settings.hpp"

#include <cmath>

#include "domain/text.hpp"

namespace ds::domain {

Expected<StreamSettings> apply_settings_patch(StreamSettings s, const StreamSettingsPatch& p) {
  if (p.comments_enabled) s.comments_enabled = *p.comments_enabled;
  if (p.styles_enabled) s.styles_enabled = *p.styles_enabled;
  if (p.record) s.record = *p.record;
  if (p.style_policy) {
    auto policy = parse_style_policy(*p.style_policy);
    if (!policy) return bad_request("style_policy must be auto or approve", "invalid_policy");
    s.style_policy = *policy;
  }
  if (p.style_slot_seconds) {
    auto v = *p.style_slot_seconds;
    if (v < kMinStyleSlotSeconds || v > kMaxStyleSlotSeconds) {
      return bad_request("style_slot_seconds must be 5–600", "invalid_slot");
    }
    s.style_slot_seconds = v;
  }
  if (p.base_style) {
    auto clean = clean_text(*p.base_style, 0, kMaxBaseStyleChars);
    if (!clean) {
      return bad_request("base_style must be up to 200 characters of text", "invalid_style");
    }
    s.base_style = *clean;
  }
  if (p.strength) {
    double v = *p.strength;
    if (!(v >= 0.0 && v <= 1.0)) return bad_request("strength must be 0–1", "invalid_strength");
    s.strength = std::lround(v * 100);
  }
  return s;
}

}  // namespace ds::domain
