#include "store/migrations.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <string>
#include <vector>

namespace ds::store {

namespace {

// "{{id}}" stands for the dialect's auto-increment primary key. Everything else is plain SQL
// that SQLite and PostgreSQL both accept. Timestamps are Unix milliseconds, money credit-cents.
const std::vector<std::vector<std::string>> kMigrations = {
    // 1: accounts, ledger, streams, chat, styles, payments, workers.
    {
        R"(CREATE TABLE users (
          id {{id}},
          username TEXT NOT NULL,
          email TEXT NOT NULL,
          display_name TEXT NOT NULL,
          password_hash TEXT NOT NULL,
          balance_cents BIGINT NOT NULL DEFAULT 0 CHECK (balance_cents >= 0),
          stream_key_hash TEXT,
          is_admin INTEGER NOT NULL DEFAULT 0,
          created_ms BIGINT NOT NULL,
          deleted_ms BIGINT))",
        "CREATE UNIQUE INDEX users_username ON users(username)",
        "CREATE UNIQUE INDEX users_email ON users(email)",
        "CREATE UNIQUE INDEX users_stream_key ON users(stream_key_hash)",
        R"(CREATE TABLE sessions (
          id {{id}},
          user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
          token_hash TEXT NOT NULL,
          created_ms BIGINT NOT NULL,
          last_seen_ms BIGINT NOT NULL,
          expires_ms BIGINT NOT NULL,
          user_agent TEXT NOT NULL DEFAULT '',
          ip TEXT NOT NULL DEFAULT ''))",
        "CREATE UNIQUE INDEX sessions_token ON sessions(token_hash)",
        "CREATE INDEX sessions_user ON sessions(user_id)",
        R"(CREATE TABLE api_tokens (
          id {{id}},
          user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
          name TEXT NOT NULL,
          token_hash TEXT NOT NULL,
          created_ms BIGINT NOT NULL,
          last_used_ms BIGINT))",
        "CREATE UNIQUE INDEX api_tokens_hash ON api_tokens(token_hash)",
        "CREATE INDEX api_tokens_user ON api_tokens(user_id)",
        R"(CREATE TABLE stream_sessions (
          id {{id}},
          user_id BIGINT NOT NULL REFERENCES users(id),
          status TEXT NOT NULL,
          created_ms BIGINT NOT NULL,
          first_frame_ms BIGINT,
          last_frame_ms BIGINT,
          ended_ms BIGINT,
          duration_minutes BIGINT NOT NULL DEFAULT 0,
          cost_cents BIGINT NOT NULL DEFAULT 0,
          max_viewers BIGINT NOT NULL DEFAULT 0,
          comment_count BIGINT NOT NULL DEFAULT 0,
          style_request_count BIGINT NOT NULL DEFAULT 0,
          frames_in BIGINT NOT NULL DEFAULT 0,
          frames_out BIGINT NOT NULL DEFAULT 0))",
        // One active stream per user, enforced by the database.
        "CREATE UNIQUE INDEX stream_sessions_one_active ON stream_sessions(user_id) "
        "WHERE ended_ms IS NULL",
        "CREATE INDEX stream_sessions_user ON stream_sessions(user_id, created_ms)",
        R"(CREATE TABLE viewer_samples (
          stream_session_id BIGINT NOT NULL REFERENCES stream_sessions(id),
          t_ms BIGINT NOT NULL,
          viewers BIGINT NOT NULL))",
        "CREATE INDEX viewer_samples_session ON viewer_samples(stream_session_id, t_ms)",
        R"(CREATE TABLE credit_transactions (
          id {{id}},
          user_id BIGINT NOT NULL REFERENCES users(id),
          kind TEXT NOT NULL,
          amount_cents BIGINT NOT NULL,
          balance_after_cents BIGINT NOT NULL,
          stream_session_id BIGINT,
          minute_index BIGINT,
          stripe_checkout_session TEXT,
          stripe_payment_intent TEXT,
          stripe_event_id TEXT,
          note TEXT NOT NULL DEFAULT '',
          created_ms BIGINT NOT NULL,
          CHECK (kind IN ('signup_bonus', 'purchase', 'stream_usage', 'refund',
                          'admin_adjustment')),
          CHECK (balance_after_cents >= 0),
          CHECK (kind <> 'purchase' OR stripe_checkout_session IS NOT NULL),
          CHECK (kind <> 'stream_usage' OR (stream_session_id IS NOT NULL AND
                                            minute_index IS NOT NULL))))",
        "CREATE INDEX credit_transactions_user ON credit_transactions(user_id, id)",
        "CREATE UNIQUE INDEX credit_transactions_signup ON credit_transactions(user_id) "
        "WHERE kind = 'signup_bonus'",
        "CREATE UNIQUE INDEX credit_transactions_usage ON credit_transactions(stream_session_id, "
        "minute_index) WHERE kind = 'stream_usage'",
        "CREATE UNIQUE INDEX credit_transactions_purchase ON "
        "credit_transactions(stripe_checkout_session) WHERE kind = 'purchase'",
        R"(CREATE TABLE checkout_sessions (
          id TEXT PRIMARY KEY,
          user_id BIGINT NOT NULL REFERENCES users(id),
          credits BIGINT NOT NULL,
          amount_cents BIGINT NOT NULL,
          status TEXT NOT NULL,
          created_ms BIGINT NOT NULL,
          fulfilled_ms BIGINT))",
        "CREATE INDEX checkout_sessions_user ON checkout_sessions(user_id)",
        R"(CREATE TABLE stripe_events (
          event_id TEXT PRIMARY KEY,
          type TEXT NOT NULL,
          checkout_session TEXT,
          outcome TEXT NOT NULL,
          received_ms BIGINT NOT NULL))",
        R"(CREATE TABLE stream_settings (
          user_id BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
          comments_enabled INTEGER NOT NULL DEFAULT 1,
          styles_enabled INTEGER NOT NULL DEFAULT 1,
          style_policy TEXT NOT NULL DEFAULT 'auto',
          style_slot_seconds BIGINT NOT NULL DEFAULT 30,
          base_style TEXT NOT NULL DEFAULT '',
          strength BIGINT NOT NULL DEFAULT 60))",
        R"(CREATE TABLE comments (
          id {{id}},
          streamer_id BIGINT NOT NULL REFERENCES users(id),
          stream_session_id BIGINT REFERENCES stream_sessions(id),
          user_id BIGINT NOT NULL REFERENCES users(id),
          body TEXT NOT NULL,
          created_ms BIGINT NOT NULL,
          deleted_ms BIGINT))",
        "CREATE INDEX comments_streamer ON comments(streamer_id, id)",
        R"(CREATE TABLE style_requests (
          id {{id}},
          streamer_id BIGINT NOT NULL REFERENCES users(id),
          stream_session_id BIGINT REFERENCES stream_sessions(id),
          user_id BIGINT NOT NULL REFERENCES users(id),
          prompt TEXT NOT NULL,
          status TEXT NOT NULL,
          created_ms BIGINT NOT NULL,
          started_ms BIGINT,
          ended_ms BIGINT))",
        "CREATE INDEX style_requests_streamer ON style_requests(streamer_id, id)",
        R"(CREATE TABLE worker_tokens (
          id {{id}},
          name TEXT NOT NULL,
          token_hash TEXT NOT NULL,
          created_ms BIGINT NOT NULL,
          revoked_ms BIGINT))",
        "CREATE UNIQUE INDEX worker_tokens_hash ON worker_tokens(token_hash)",
    },
    // 2: ingest tickets (store/ingest_tickets.hpp).
    {
        R"(CREATE TABLE ingest_tickets (
          id {{id}},
          token_hash TEXT NOT NULL,
          user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
          session_id BIGINT NOT NULL DEFAULT 0,
          api_token_id BIGINT NOT NULL DEFAULT 0,
          created_ms BIGINT NOT NULL,
          expires_ms BIGINT NOT NULL))",
        "CREATE UNIQUE INDEX ingest_tickets_hash ON ingest_tickets(token_hash)",
        "CREATE INDEX ingest_tickets_user ON ingest_tickets(user_id, expires_ms)",
    },
    // 3: a style request's place in the play order, so the home a stream moves to (many nodes)
    // rebuilds its queue from the stored rows in the order it had (store/style_requests.hpp).
    {
        "ALTER TABLE style_requests ADD COLUMN queue_order BIGINT NOT NULL DEFAULT 0",
        "CREATE INDEX style_requests_session ON style_requests(stream_session_id, status)",
    },
    // 4: what each API token may do (auth/scopes.hpp); tokens made before scopes keep them all.
    {
        "ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL "
        "DEFAULT 'read stream chat key tokens account'",
    },
    // 5: which node owns (bills) each open stream, and how many times it changed hands: a node
    // bills, saves and ends a stream only while the epoch it took it with is the row's
    // (store/streams.hpp, hold_stream_session).
    {
        "ALTER TABLE stream_sessions ADD COLUMN home_node TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE stream_sessions ADD COLUMN home_epoch BIGINT NOT NULL DEFAULT 0",
    },
    // 6: recordings of stream sessions (store/recordings.hpp) and the per-account switch that
    // asks for them.
    {
        "ALTER TABLE stream_settings ADD COLUMN record_enabled INTEGER NOT NULL DEFAULT 0",
        R"(CREATE TABLE recordings (
          session_id BIGINT PRIMARY KEY REFERENCES stream_sessions(id),
          user_id BIGINT NOT NULL REFERENCES users(id),
          public INTEGER NOT NULL DEFAULT 1,
          state TEXT NOT NULL DEFAULT 'recording',
          bytes BIGINT NOT NULL DEFAULT 0,
          duration_ms BIGINT NOT NULL DEFAULT 0,
          segments BIGINT NOT NULL DEFAULT 0,
          created_ms BIGINT NOT NULL,
          updated_ms BIGINT NOT NULL,
          CHECK (state IN ('recording', 'complete'))))",
        "CREATE INDEX recordings_user ON recordings(user_id, session_id)",
        "CREATE INDEX recordings_created ON recordings(created_ms)",
    },
};

std::string expand(const std::string& sql, const std::string& id_column) {
  std::string out = sql;
  const std::string marker = "{{id}}";
  for (auto pos = out.find(marker); pos != std::string::npos; pos = out.find(marker, pos)) {
    out.replace(pos, marker.size(), id_column);
  }
  return out;
}

}  // namespace

int latest_schema_version() { return static_cast<int>(kMigrations.size()); }

int migrate(Database& db) {
  db.with([](soci::session& sql) {
    sql << "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, "
           "applied_ms BIGINT NOT NULL)";
  });
  int version = 0;
  for (int target = 1; target <= latest_schema_version(); ++target) {
    // Each migration runs in its own transaction together with its version row, so two nodes
    // starting at once apply it exactly once (the loser rolls back on the primary key).
    bool applied = db.write([&](soci::session& sql) {
      long long count = 0;
      sql << "SELECT COUNT(*) FROM schema_migrations WHERE version = :v", soci::use(target),
          soci::into(count);
      if (count > 0) return false;
      // A schema change on a large table may take longer than a request may.
      if (db.dialect() == Dialect::kPostgres) sql << "SET LOCAL statement_timeout = 0";
      for (const auto& stmt : kMigrations[target - 1]) sql << expand(stmt, db.id_column());
      long long now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
      sql << "INSERT INTO schema_migrations (version, applied_ms) VALUES (:v, :t)",
          soci::use(target), soci::use(now);
      return true;
    });
    if (applied) spdlog::info("event=migration_applied version={}", target);
    version = target;
  }
  return version;
}

}  // namespace ds::store
