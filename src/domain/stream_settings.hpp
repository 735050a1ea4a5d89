// A streamer's stream settings (chat and style-request switches, style policy, slot length,
// base style, strength, recording) and the pure rules for changing them with a partial update.
#pragma once

#include <optional>
#include <string>

#include "domain/style_queue.hpp"
#include "util/expected.hpp"

namespace ds::domain {

inline constexpr long long kMinStyleSlotSeconds = 5;
inline constexpr long long kMaxStyleSlotSeconds = 600;
inline constexpr std::size_t kMaxBaseStyleChars = 200;

struct StreamSettings {
  bool comments_enabled = true;
  bool styles_enabled = true;
  StylePolicy style_policy = StylePolicy::kAuto;
  long long style_slot_seconds = 30;
  std::string base_style;
  long long strength = 60;  // percent
  // Sessions are recorded (live/recorder.hpp): from the start, or from when it is switched on.
  bool record = false;
};

// The fields a change names; the others keep their value. Values are as the client sent them.
struct StreamSettingsPatch {
  std::optional<bool> comments_enabled;
  std::optional<bool> styles_enabled;
  std::optional<std::string> style_policy;  // "auto" or "approve"
  std::optional<long long> style_slot_seconds;
  std::optional<std::string> base_style;
  std::optional<double> strength;  // 0 to 1
  std::optional<bool> record;
};

// settings with patch applied, or the first rule a field breaks (kInvalid: invalid_policy,
// invalid_slot, invalid_style, invalid_strength). The base style is trimmed.
Expected<StreamSettings> apply_settings_patch(StreamSettings settings,
                                              const StreamSettingsPatch& patch);

}  // namespace ds::domain
