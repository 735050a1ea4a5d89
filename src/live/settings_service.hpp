// Stream settings: reads them, and applies a change (checked by domain::apply_settings_patch),
// stores it, sends {"type":"settings"} to the streamer's viewers and the streamer, and hands
// the new settings to the style queue, which decides what plays; a change of `record` goes to
// the recorder (live/recorder.hpp), which starts or stops recording a live stream.
#pragma once

#include <functional>
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

  // Called when a change turns `record` on or off, under the service's lock so that two
  // switches arrive in order: it must only queue work (Recorder::set_record does). Set once,
  // before serving; unset: nobody is told.
  using RecordSwitch = std::function<void(const store::User& streamer, bool record)>;
  void on_record_switch(RecordSwitch fn) { on_record_ = std::move(fn); }

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
  RecordSwitch on_record_;
};

// The settings as the API and the settings event show them (strength 0–1).
nlohmann::json settings_json(const domain::StreamSettings& s);

}  // namespace ds::live
