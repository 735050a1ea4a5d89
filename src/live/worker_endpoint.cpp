#include "live/worker_endpoint.hpp"

#include <spdlog/spdlog.h>

#include <type_traits>
#include <variant>

#include "auth/crypto.hpp"

namespace ds::live {

using wire::CloseCode;

namespace {

constexpr std::size_t kMaxTokenBytes = 200;

Bytes unknown_job() {
  return wire::encode_error("unknown_job", "no such job is assigned to this worker");
}

}  // namespace

WorkerEndpoint::WorkerEndpoint(Hub& hub, auth::AuthService& auth, WorkerConfig config)
    : hub_(hub), auth_(auth), config_(std::move(config)) {}

Connected<WorkerContext> WorkerEndpoint::connect(const ConnectRequest& req) {
  auto token = req.bearer ? req.bearer : req.query_token;
  bool valid = false;
  long long token_id = 0;
  if (token && token->size() < kMaxTokenBytes) {
    for (const auto& t : config_.tokens) valid = valid || auth::constant_time_equal(t, *token);
    if (!valid) {
      auto id = auth_.worker_token_id(*token);
      valid = id.has_value();
      token_id = id.value_or(0);
    }
  }
  if (!valid) {
    return Rejection{CloseCode::kUnauthorized, "unauthorized", "a valid worker token is required"};
  }
  WorkerContext ctx;
  ctx.remote_addr = req.remote_addr;
  ctx.token_id = token_id;
  return ctx;
}

void WorkerEndpoint::on_open(WorkerContext& ctx, const std::shared_ptr<Peer>& self) {
  // A revocation between connect and here is caught by the next recheck.
  if (ctx.token_id != 0 && config_.token_watch) {
    config_.token_watch->add(self.get(), self, ctx.token_id);
  }
}

void WorkerEndpoint::on_message(WorkerContext& ctx, const std::shared_ptr<Peer>& self, bool binary,
                                std::string&& data) {
  if (binary) return on_jpeg(ctx, *self, std::move(data));
  on_text(ctx, self, data);
}

void WorkerEndpoint::on_jpeg(WorkerContext& ctx, Peer& self, std::string&& jpeg) {
  if (!ctx.pending || ctx.worker_id == 0) {
    self.send_text(wire::encode_error("unexpected_binary", "send a result header before its JPEG"));
    return;
  }
  // The header was checked when it came; its job id is already a number.
  auto header = std::move(*ctx.pending);
  ctx.pending.reset();
  auto job_id = header.job_id;
  if (auto ok = domain::validate_jpeg(jpeg, config_.frame_limits); !ok) {
    self.send_text(wire::encode_error("bad_result", ok.error().message));
    hub_.on_worker_error(ctx.worker_id, job_id);
    return;
  }
  auto outcome = hub_.on_result(ctx.worker_id, job_id, make_bytes(std::move(jpeg)), header.timings);
  if (outcome == ResultOutcome::kUnknownJob) self.send_text(unknown_job());
}

void WorkerEndpoint::on_text(WorkerContext& ctx, const std::shared_ptr<Peer>& self,
                             std::string_view text) {
  auto parsed = wire::parse_worker_text(text);
  if (!parsed) {
    self->send_text(wire::encode_error(parsed.error().code, parsed.error().message));
    if (++ctx.bad_messages >= config_.max_bad_in_a_row) {
      self->close(CloseCode::kPolicy, "too many bad messages");
    }
    return;
  }
  ctx.bad_messages = 0;
  std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, wire::Hello>) {
          if (ctx.worker_id != 0) return;
          // Welcome goes out before the first job: both are queued on this connection in order.
          self->send_text(wire::encode_welcome(m.name, m.slots, m.max_batch));
          ctx.worker_id = hub_.add_worker(self, m.name, m.slots, m.max_batch);
          spdlog::info("event=worker_connected worker={} addr={} slots={} max_batch={}", m.name,
                       ctx.remote_addr, m.slots, m.max_batch);
        } else if constexpr (std::is_same_v<T, wire::ResultHeader>) {
          ctx.pending = std::move(m);
        } else if constexpr (std::is_same_v<T, wire::Cancelled>) {
          if (!hub_.on_cancelled(ctx.worker_id, m.job_id)) self->send_text(unknown_job());
        } else {
          if (!hub_.on_worker_error(ctx.worker_id, m.job_id)) {
            self->send_text(unknown_job());
          }
        }
      },
      *parsed);
}

void WorkerEndpoint::on_closed(WorkerContext& ctx, Peer& self) {
  if (ctx.token_id != 0 && config_.token_watch) config_.token_watch->remove(&self);
  if (ctx.worker_id != 0) hub_.remove_worker(ctx.worker_id);
}

}  // namespace ds::live
