#include "live/settings_service.hpp"

#include "live/protocol.hpp"
#include "store/stream_settings.hpp"

namespace ds::live {

nlohmann::json settings_json(const domain::StreamSettings& s) {
  return {{"comments_enabled", s.comments_enabled},
          {"styles_enabled", s.styles_enabled},
          {"style_policy", domain::to_string(s.style_policy)},
          {"style_slot_seconds", s.style_slot_seconds},
          {"base_style", s.base_style},
          {"strength", static_cast<double>(s.strength) / 100.0},
          {"record", s.record}};
}

SettingsService::SettingsService(store::Database& db, Hub& hub, StyleService& styles)
    : db_(db), hub_(hub), styles_(styles) {}

domain::StreamSettings SettingsService::get(long long user_id) {
  return db_.with([&](soci::session& sql) { return store::load_stream_settings(sql, user_id); });
}

Expected<domain::StreamSettings> SettingsService::update(const store::User& streamer,
                                                         const domain::StreamSettingsPatch& patch) {
  std::lock_guard lock(mutex_);
  auto before = get(streamer.id);
  auto changed = domain::apply_settings_patch(before, patch);
  if (!changed) return changed.error();
  db_.write([&](soci::session& sql) { store::save_stream_settings(sql, streamer.id, *changed); });
  hub_.broadcast_text(streamer.username, wire::encode_settings(settings_json(*changed)));
  styles_.apply_settings(streamer, *changed);
  if (on_record_ && before.record != changed->record) on_record_(streamer, changed->record);
  return *changed;
}

}  // namespace ds::live
