#include "store/ledger.hpp"

namespace ds::store {

namespace {

template <class T>
soci::indicator ind(const std::optional<T>& v) {
  return v ? soci::i_ok : soci::i_null;
}

}  // namespace

std::optional<long long> append_entry(soci::session& sql, long long user_id,
                                      const std::string& kind, long long amount_cents,
                                      const LedgerLinks& links, long long now_ms) {
  long long balance = 0;
  soci::statement upd =
      (sql.prepare << "UPDATE users SET balance_cents = balance_cents + :a WHERE id = :u AND "
                      "balance_cents + :a2 >= 0 RETURNING balance_cents",
       soci::use(amount_cents), soci::use(user_id), soci::use(amount_cents), soci::into(balance));
  upd.execute();
  if (!upd.fetch()) return std::nullopt;

  long long session_id = links.stream_session_id.value_or(0);
  long long minute = links.minute_index.value_or(0);
  std::string checkout = links.checkout_session.value_or("");
  std::string intent = links.payment_intent.value_or("");
  std::string event = links.event_id.value_or("");
  soci::indicator session_ind = ind(links.stream_session_id);
  soci::indicator minute_ind = ind(links.minute_index);
  soci::indicator checkout_ind = ind(links.checkout_session);
  soci::indicator intent_ind = ind(links.payment_intent);
  soci::indicator event_ind = ind(links.event_id);
  sql << "INSERT INTO credit_transactions (user_id, kind, amount_cents, balance_after_cents, "
         "stream_session_id, minute_index, stripe_checkout_session, stripe_payment_intent, "
         "stripe_event_id, note, created_ms) VALUES (:u, :k, :a, :b, :s, :m, :cs, :pi, :ev, :n, "
         ":t)",
      soci::use(user_id), soci::use(kind), soci::use(amount_cents), soci::use(balance),
      soci::use(session_id, session_ind), soci::use(minute, minute_ind),
      soci::use(checkout, checkout_ind), soci::use(intent, intent_ind), soci::use(event, event_ind),
      soci::use(links.note), soci::use(now_ms);
  return balance;
}

namespace {

struct Row {
  LedgerEntry e;
  long long session_id = 0, minute = 0;
  std::string checkout, intent, event;
  soci::indicator session_ind{}, minute_ind{}, checkout_ind{}, intent_ind{}, event_ind{};

  LedgerEntry take() const {
    LedgerEntry out = e;
    if (session_ind == soci::i_ok) out.links.stream_session_id = session_id;
    if (minute_ind == soci::i_ok) out.links.minute_index = minute;
    if (checkout_ind == soci::i_ok) out.links.checkout_session = checkout;
    if (intent_ind == soci::i_ok) out.links.payment_intent = intent;
    if (event_ind == soci::i_ok) out.links.event_id = event;
    return out;
  }
};

const char* const kEntryColumns =
    "SELECT id, user_id, kind, amount_cents, balance_after_cents, stream_session_id, "
    "minute_index, stripe_checkout_session, stripe_payment_intent, stripe_event_id, note, "
    "created_ms FROM credit_transactions ";

#define DS_LEDGER_INTO(r)                                                                          \
  soci::into(r.e.id), soci::into(r.e.user_id), soci::into(r.e.kind), soci::into(r.e.amount_cents), \
      soci::into(r.e.balance_after_cents), soci::into(r.session_id, r.session_ind),                \
      soci::into(r.minute, r.minute_ind), soci::into(r.checkout, r.checkout_ind),                  \
      soci::into(r.intent, r.intent_ind), soci::into(r.event, r.event_ind),                        \
      soci::into(r.e.links.note), soci::into(r.e.created_ms)

}  // namespace

std::vector<LedgerEntry> list_entries(soci::session& sql, long long user_id, long long before_id,
                                      int limit) {
  std::vector<LedgerEntry> out;
  Row r;
  long long before = before_id > 0 ? before_id : (1LL << 62);
  soci::statement st =
      (sql.prepare << kEntryColumns << "WHERE user_id = :u AND id < :b ORDER BY id DESC LIMIT :l",
       DS_LEDGER_INTO(r), soci::use(user_id), soci::use(before), soci::use(limit));
  st.execute();
  while (st.fetch()) out.push_back(r.take());
  return out;
}

std::optional<LedgerEntry> find_entry(soci::session& sql, long long user_id, long long entry_id) {
  Row r;
  soci::statement st = (sql.prepare << kEntryColumns << "WHERE user_id = :u AND id = :id",
                        DS_LEDGER_INTO(r), soci::use(user_id), soci::use(entry_id));
  st.execute();
  if (!st.fetch()) return std::nullopt;
  return r.take();
}

#undef DS_LEDGER_INTO

std::vector<LedgerMismatch> verify_ledger(soci::session& sql) {
  std::vector<LedgerMismatch> out;
  LedgerMismatch m;
  soci::statement st =
      (sql.prepare << "SELECT u.id, u.balance_cents, COALESCE(SUM(t.amount_cents), 0) FROM users u "
                      "LEFT JOIN credit_transactions t ON t.user_id = u.id GROUP BY u.id, "
                      "u.balance_cents HAVING u.balance_cents <> COALESCE(SUM(t.amount_cents), 0)",
       soci::into(m.user_id), soci::into(m.balance_cents), soci::into(m.ledger_sum_cents));
  st.execute();
  while (st.fetch()) out.push_back(m);
  return out;
}

}  // namespace ds::store
