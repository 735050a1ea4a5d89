#include "store/viewer_samples.hpp"

namespace ds::store {

void insert_viewer_sample(soci::session& sql, long long session_id, long long t_ms,
                          long long viewers) {
  sql << "INSERT INTO viewer_samples (stream_session_id, t_ms, viewers) VALUES (:s, :t, :v)",
      soci::use(session_id), soci::use(t_ms), soci::use(viewers);
}

std::vector<std::pair<long long, long long>> list_viewer_samples(soci::session& sql,
                                                                 long long session_id) {
  std::vector<std::pair<long long, long long>> out;
  long long t = 0, viewers = 0;
  soci::statement st = (sql.prepare << "SELECT t_ms, viewers FROM viewer_samples "
                                       "WHERE stream_session_id = :s ORDER BY t_ms",
                        soci::into(t), soci::into(viewers), soci::use(session_id));
  st.execute();
  while (st.fetch()) out.emplace_back(t, viewers);
  return out;
}

}  // namespace ds::store
