// Stream settings repository: one row of domain::StreamSettings per streamer.
#pragma once

#include <soci/soci.h>

#include "domain/stream_settings.hpp"

namespace ds::store {

// Defaults when the user never saved settings.
domain::StreamSettings load_stream_settings(soci::session& sql, long long user_id);
void save_stream_settings(soci::session& sql, long long user_id, const domain::StreamSettings& s);

}  // namespace ds::store
