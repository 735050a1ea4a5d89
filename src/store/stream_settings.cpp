#include "store/stream_settings.hpp"

#include <string>

namespace ds::store {

domain::StreamSettings load_stream_settings(soci::session& sql, long long user_id) {
  domain::StreamSettings s;
  int comments = 1, styles = 1, record = 0;
  std::string policy;
  soci::statement st =
      (sql.prepare
           << "SELECT comments_enabled, styles_enabled, style_policy, style_slot_seconds, "
              "base_style, strength, record_enabled FROM stream_settings WHERE user_id = :u",
       soci::into(comments), soci::into(styles), soci::into(policy),
       soci::into(s.style_slot_seconds), soci::into(s.base_style), soci::into(s.strength),
       soci::into(record), soci::use(user_id));
  st.execute();
  if (!st.fetch()) return domain::StreamSettings{};
  s.comments_enabled = comments != 0;
  s.styles_enabled = styles != 0;
  s.record = record != 0;
  s.style_policy = domain::parse_style_policy(policy).value_or(domain::StylePolicy::kAuto);
  return s;
}

void save_stream_settings(soci::session& sql, long long user_id, const domain::StreamSettings& s) {
  int comments = s.comments_enabled ? 1 : 0;
  int styles = s.styles_enabled ? 1 : 0;
  int record = s.record ? 1 : 0;
  std::string policy(domain::to_string(s.style_policy));
  sql << "INSERT INTO stream_settings (user_id, comments_enabled, styles_enabled, style_policy, "
         "style_slot_seconds, base_style, strength, record_enabled) "
         "VALUES (:u, :c, :s, :p, :sl, :b, :st, :r) ON CONFLICT (user_id) DO UPDATE SET "
         "comments_enabled = excluded.comments_enabled, "
         "styles_enabled = excluded.styles_enabled, style_policy = excluded.style_policy, "
         "style_slot_seconds = excluded.style_slot_seconds, base_style = excluded.base_style, "
         "strength = excluded.strength, record_enabled = excluded.record_enabled",
      soci::use(user_id), soci::use(comments), soci::use(styles), soci::use(policy),
      soci::use(s.style_slot_seconds), soci::use(s.base_style), soci::use(s.strength),
      soci::use(record);
}

}  // namespace ds::store
