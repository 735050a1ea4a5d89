#include "cli/admin.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <ctime>
#include <filesystem>
#include <iostream>
#include <memory>

#include "auth/crypto.hpp"
#include "domain/credits.hpp"
#include "payments/credit_grants.hpp"
#include "store/database.hpp"
#include "store/ledger.hpp"
#include "store/migrations.hpp"
#include "store/users.hpp"
#include "store/worker_tokens.hpp"
#include "util/clock.hpp"

namespace ds::cli {

namespace {

std::unique_ptr<store::Database> open_store(const AdminConfig& c) {
  std::string path = c.data_dir + "/dreamstream.db";
  // A mistyped --data must not pass `ledger verify` against a fresh, empty database.
  if (c.db_url.empty() && !std::filesystem::exists(path)) {
    std::cerr << "error: no database at " << path << " (give --data DIR or --db URL)\n";
    return nullptr;
  }
  std::string url = c.db_url.empty() ? "sqlite://" + path : c.db_url;
  auto db = store::Database::open(url, 1);
  store::migrate(*db);
  return db;
}

std::string username_of(store::Database& db, long long user_id) {
  // find_user hides deleted accounts; their ledger still counts.
  return db.with([&](soci::session& sql) {
    return store::find_username_including_deleted(sql, user_id).value_or("");
  });
}

int ledger_verify(store::Database& db) {
  auto mismatches = db.with([](soci::session& sql) { return store::verify_ledger(sql); });
  long long users = db.with([](soci::session& sql) { return store::count_users(sql); });
  if (mismatches.empty()) {
    std::cout << "ledger ok: " << users << " users, every balance equals its ledger sum\n";
    return 0;
  }
  for (const auto& m : mismatches) {
    std::cout << "mismatch user_id=" << m.user_id << " username=" << username_of(db, m.user_id)
              << " balance=" << domain::format_credits(m.balance_cents)
              << " ledger_sum=" << domain::format_credits(m.ledger_sum_cents)
              << " difference=" << domain::format_credits(m.balance_cents - m.ledger_sum_cents)
              << "\n";
  }
  std::cout << "ledger verify FAILED: " << mismatches.size() << " of " << users
            << " users have a balance that differs from their ledger sum\n";
  return 1;
}

int credits_grant(store::Database& db, const AdminConfig& c) {
  auto cents = payments::parse_credit_amount(c.credits);
  if (!cents) {
    std::cerr << "error: credits must be a number with at most two decimals, e.g. 12, -3 or 1.50\n";
    return 2;
  }
  if (c.note.empty()) {
    std::cerr << "error: --note must say why\n";
    return 2;
  }
  SystemClock clock;
  auto result = payments::grant_credits(db, clock, c.username, *cents, c.note);
  if (!result) {
    std::cerr << "error: " << result.error().message << "\n";
    return 1;
  }
  spdlog::info("event=admin_credits_granted user_id={} amount_cents={} entry_id={}",
               result->user_id, *cents, result->entry_id);
  std::cout << (*cents > 0 ? "granted " : "adjusted ") << domain::format_credits(*cents)
            << " credits for " << c.username << " (entry " << result->entry_id << "); balance now "
            << domain::format_credits(result->balance_cents) << "\n";
  return 0;
}

int worker_token_create(store::Database& db, const AdminConfig& c) {
  if (c.token_name.empty() || c.token_name.size() > 100) {
    std::cerr << "error: the name must be 1–100 characters\n";
    return 2;
  }
  auto token = auth::random_token("dsw_");
  SystemClock clock;
  long long id = db.write([&](soci::session& sql) {
    return store::insert_worker_token(sql, c.token_name, auth::sha256_hex(token), clock.now_ms());
  });
  spdlog::info("event=worker_token_created id={} name={}", id, c.token_name);
  std::cerr << "worker token " << id << " (" << c.token_name
            << ") created; it is shown once, store it now:\n";
  std::cout << token << "\n";
  return 0;
}

std::string iso_time(long long ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int worker_token_list(store::Database& db) {
  auto tokens = db.with([](soci::session& sql) { return store::list_worker_tokens(sql); });
  // One line per token, tab-separated: id, name, created, and "active" or "revoked <when>".
  for (const auto& t : tokens) {
    std::cout << t.id << "\t" << t.name << "\t" << iso_time(t.created_ms) << "\t"
              << (t.revoked_ms ? "revoked " + iso_time(*t.revoked_ms) : std::string("active"))
              << "\n";
  }
  if (tokens.empty()) std::cerr << "no worker tokens\n";
  return 0;
}

int worker_token_revoke(store::Database& db, const AdminConfig& c) {
  SystemClock clock;
  int n = db.write([&](soci::session& sql) {
    return store::revoke_worker_tokens_named(sql, c.token_name, clock.now_ms());
  });
  if (n == 0) {
    std::cerr << "error: no active worker token named \"" << c.token_name
              << "\" (see `admin worker-token list`)\n";
    return 1;
  }
  spdlog::info("event=worker_token_revoked name={} count={}", c.token_name, n);
  // A running server ends the sockets of a revoked token within a few seconds.
  std::cout << "revoked " << n << " worker token" << (n == 1 ? "" : "s") << " named "
            << c.token_name << "; its workers are disconnected within 10 s\n";
  return 0;
}

}  // namespace

void add_admin_command(CLI::App& app, AdminConfig& c) {
  auto* admin = app.add_subcommand("admin", "Operator commands: ledger, credits, worker tokens");
  admin->require_subcommand(1);
  admin->add_option("--data", c.data_dir, "Data directory")
      ->envname("DREAMSTREAM_DATA")
      ->capture_default_str();
  admin->add_option("--db", c.db_url, "Database URL (sqlite://PATH or postgres://...)")
      ->envname("DREAMSTREAM_DB");

  auto* ledger = admin->add_subcommand("ledger", "The credits ledger");
  ledger->require_subcommand(1);
  c.ledger_verify =
      ledger->add_subcommand("verify", "Check every balance equals its ledger sum (exit 1 if not)");

  auto* credits = admin->add_subcommand("credits", "Credit balances");
  credits->require_subcommand(1);
  c.credits_grant = credits->add_subcommand(
      "grant", "Grant (or, negative, take back) credits; never below a balance of 0");
  c.credits_grant->add_option("username", c.username, "The account")->required();
  c.credits_grant->add_option("credits", c.credits, "Credits, e.g. 12, -3 or 1.50")->required();
  c.credits_grant->add_option("--note", c.note, "Why (kept in the ledger)")->required();

  auto* worker_token = admin->add_subcommand("worker-token", "Tokens model workers present");
  worker_token->require_subcommand(1);
  c.worker_token_create = worker_token->add_subcommand(
      "create", "Create a token; prints it once (only its digest is stored)");
  c.worker_token_create->add_option("name", c.token_name, "A label for the worker")->required();
  c.worker_token_list = worker_token->add_subcommand(
      "list", "Every worker token: id, name, created, active or revoked (tab-separated)");
  c.worker_token_revoke = worker_token->add_subcommand(
      "revoke",
      "Revoke the tokens with this name; a running server closes their workers within 10 s");
  c.worker_token_revoke->add_option("name", c.token_name, "The token's name")->required();
}

int run_admin(const AdminConfig& c) {
  // stdout carries only the command's answer (a token, a verdict); logs go to stderr.
  spdlog::set_default_logger(spdlog::stderr_color_mt("admin"));
  auth::init_crypto();
  auto db = open_store(c);
  if (!db) return 2;
  if (c.ledger_verify && c.ledger_verify->parsed()) return ledger_verify(*db);
  if (c.credits_grant && c.credits_grant->parsed()) return credits_grant(*db, c);
  if (c.worker_token_create && c.worker_token_create->parsed()) return worker_token_create(*db, c);
  if (c.worker_token_list && c.worker_token_list->parsed()) return worker_token_list(*db);
  if (c.worker_token_revoke && c.worker_token_revoke->parsed()) return worker_token_revoke(*db, c);
  std::cerr << "error: no admin command given\n";
  return 2;
}

}  // namespace ds::cli
