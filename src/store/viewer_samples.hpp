// Viewer samples repository: a stream session's viewer count every few seconds.
#pragma once

#include <soci/soci.h>

#include <utility>
#include <vector>

namespace ds::store {

void insert_viewer_sample(soci::session& sql, long long session_id, long long t_ms,
                          long long viewers);
// (t_ms, viewers) pairs, oldest first.
std::vector<std::pair<long long, long long>> list_viewer_samples(soci::session& sql,
                                                                 long long session_id);

}  // namespace ds::store
