// Stream settings: reads them, and applies a change (checked by domain::apply_settings_patch),
// stores it, sends {"type":"settings"} to the streamer's viewers and the streamer, and hands
// the new settings to the style queue, which decides what plays.
#pragma once

#include <mutex>
#include <nlohmann/json.hpp>

#include "domain/stream_settings.hpp"
#include "live/hub.hpp"
#include "live/style_service.hpp"
#include "store/database.hpp"
#include "store/users.hpp"
#include "util/expected.hpp"

namespace ds::live {

class SettingsService {
 public:
  SettingsService(store::Database& db, Hub& hub, StyleService& styles);

  // Defaults when the streamer never saved any.
  domain::StreamSettings get(long long user_id);
  // The saved settings, or kInvalid for a field that breaks a rule (nothing is saved then).
  Expected<domain::StreamSettings> update(const store::User& streamer,
                                          const domain::StreamSettingsPatch& patch);

 private:
  store::Database& db_;
  Hub& hub_;
  StyleService& styles_;
  // Serialises read-change-write, so two changes at once both land.
  std::mutex mutex_;
};

// The settings as the API and the settings event show them (strength 0–1).
nlohmann::json settings_json(const domain::StreamSettings& s);

}  // namespace ds::live
