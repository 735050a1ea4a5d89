// Per-streamer settings: chat and style-request switches, style policy, base style, strength.
#pragma once

#include <soci/soci.h>

#include <string>

namespace ds::store {

struct StreamSettings {
  bool comments_enabled = true;
  bool styles_enabled = true;
  std::string style_policy = "auto";  // auto | approve
  long long style_slot_seconds = 30;
  std::string base_style;
  long long strength = 60;  // percent
};

// Defaults when the user never saved settings.
StreamSettings load_stream_settings(soci::session& sql, long long user_id);
void save_stream_settings(soci::session& sql, long long user_id, const StreamSettings& s);

}  // namespace ds::store
