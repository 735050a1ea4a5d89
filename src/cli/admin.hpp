// `dreamstream admin`: operator commands against the store (ledger verify, credit grants,
// worker tokens). Each opens the database itself; the server may be running.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace ds::cli {

struct AdminConfig {
  std::string data_dir = "./data";
  std::string db_url;  // default sqlite://<data>/dreamstream.db

  // credits grant
  std::string username;
  std::string credits;  // "12", "-3", "1.50"
  std::string note;

  // worker-token create / revoke
  std::string token_name;

  CLI::App* ledger_verify = nullptr;
  CLI::App* credits_grant = nullptr;
  CLI::App* worker_token_create = nullptr;
  CLI::App* worker_token_list = nullptr;
  CLI::App* worker_token_revoke = nullptr;
};

void add_admin_command(CLI::App& app, AdminConfig& config);
// Exit status: 0 success, 1 the check failed or the change was refused, 2 bad usage.
int run_admin(const AdminConfig& config);

}  // namespace ds::cli
