#include "store/payments.hpp"

namespace ds::store {

void insert_checkout(soci::session& sql, const CheckoutRecord& r) {
  sql << "INSERT INTO checkout_sessions (id, user_id, credits, amount_cents, status, created_ms) "
         "VALUES (:id, :u, :c, :a, :s, :t)",
      soci::use(r.id), soci::use(r.user_id), soci::use(r.credits), soci::use(r.amount_cents),
      soci::use(r.status), soci::use(r.created_ms);
}

std::optional<CheckoutRecord> find_checkout(soci::session& sql, const std::string& id) {
  CheckoutRecord r;
  long long fulfilled = 0;
  soci::indicator fulfilled_ind = soci::i_null;
  soci::statement st =
      (sql.prepare << "SELECT id, user_id, credits, amount_cents, status, created_ms, fulfilled_ms "
                      "FROM checkout_sessions WHERE id = :id",
       soci::into(r.id), soci::into(r.user_id), soci::into(r.credits), soci::into(r.amount_cents),
       soci::into(r.status), soci::into(r.created_ms), soci::into(fulfilled, fulfilled_ind),
       soci::use(id));
  st.execute();
  if (!st.fetch()) return std::nullopt;
  if (fulfilled_ind == soci::i_ok) r.fulfilled_ms = fulfilled;
  return r;
}

void set_checkout_status(soci::session& sql, const std::string& id, const std::string& status,
                         std::optional<long long> fulfilled_ms) {
  long long fulfilled = fulfilled_ms.value_or(0);
  soci::indicator fulfilled_ind = fulfilled_ms ? soci::i_ok : soci::i_null;
  sql << "UPDATE checkout_sessions SET status = :s, fulfilled_ms = :f WHERE id = :id",
      soci::use(status), soci::use(fulfilled, fulfilled_ind), soci::use(id);
}

bool insert_stripe_event(soci::session& sql, const StripeEventRecord& e) {
  long long existing = 0;
  sql << "SELECT COUNT(*) FROM stripe_events WHERE event_id = :id", soci::use(e.event_id),
      soci::into(existing);
  if (existing > 0) return false;
  soci::indicator session_ind = e.checkout_session.empty() ? soci::i_null : soci::i_ok;
  sql << "INSERT INTO stripe_events (event_id, type, checkout_session, outcome, received_ms) "
         "VALUES (:id, :type, :cs, :o, :t)",
      soci::use(e.event_id), soci::use(e.type), soci::use(e.checkout_session, session_ind),
      soci::use(e.outcome), soci::use(e.received_ms);
  return true;
}

void set_stripe_event_outcome(soci::session& sql, const std::string& event_id,
                              const std::string& outcome) {
  sql << "UPDATE stripe_events SET outcome = :o WHERE event_id = :id", soci::use(outcome),
      soci::use(event_id);
}

std::optional<StripeEventRecord> find_stripe_event(soci::session& sql,
                                                   const std::string& event_id) {
  StripeEventRecord e;
  soci::indicator session_ind = soci::i_null;
  soci::statement st =
      (sql.prepare << "SELECT event_id, type, checkout_session, outcome, "
                      "received_ms FROM stripe_events WHERE event_id = :id",
       soci::into(e.event_id), soci::into(e.type), soci::into(e.checkout_session, session_ind),
       soci::into(e.outcome), soci::into(e.received_ms), soci::use(event_id));
  st.execute();
  if (!st.fetch()) return std::nullopt;
  if (session_ind != soci::i_ok) e.checkout_session.clear();
  return e;
}

}  // namespace ds::store
