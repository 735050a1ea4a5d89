// dreamstream: one binary with subcommands serve, worker, push and admin.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "cli/admin.hpp"
#include "cli/push.hpp"
#include "cli/serve.hpp"
#include "cli/worker.hpp"
#include "util/log_format.hpp"

int main(int argc, char** argv) {
  CLI::App app{"DreamStream: live AI-transformed video"};
  app.require_subcommand(1);
  std::string log_level = "info";
  // Before or after the subcommand (`dreamstream --log-level debug serve` or `serve --log-level
  // debug`): each subcommand has the option too, on the same variable.
  auto add_log_level = [&log_level](CLI::App& on) {
    on.add_option("--log-level", log_level, "Log level: trace, debug, info, warn, error")
        ->envname("DREAMSTREAM_LOG_LEVEL")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
        ->capture_default_str();
  };
  add_log_level(app);

  ds::cli::ServeConfig serve;
  ds::cli::add_serve_command(app, serve);
  ds::cli::AdminConfig admin;
  ds::cli::add_admin_command(app, admin);
  ds::cli::WorkerConfig worker;
  ds::cli::add_worker_command(app, worker);
  ds::cli::PushConfig push;
  ds::cli::add_push_command(app, push);

  for (auto* sub : app.get_subcommands({})) add_log_level(*sub);

  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(log_level));
  ds::util::set_log_format();
  // Log lines go out as they happen even when stdout is a pipe or file (journald, docker, CI).
  spdlog::flush_on(spdlog::level::trace);

  try {
    if (app.got_subcommand("serve")) return ds::cli::run_serve(serve);
    if (app.got_subcommand("admin")) return ds::cli::run_admin(admin);
    if (app.got_subcommand("worker")) return ds::cli::run_worker(worker);
    if (app.got_subcommand("push")) return ds::cli::run_push(push);
  } catch (const std::exception& e) {
    spdlog::critical("event=fatal error=\"{}\"", e.what());
    return 1;
  }
  return 0;
}
