// The live wire protocol's incoming messages, parsed strictly: every field type-checked, job
// ids in one canonical form, nothing that can throw. Pure: no I/O, no clock.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "domain/jpeg.hpp"
#include "util/expected.hpp"

namespace ds::live::wire {

inline constexpr std::size_t kMaxWorkerName = 60;      // bytes, cut at a character boundary
inline constexpr std::size_t kMaxWorkerText = 64 * 1024;  // a worker's JSON message
inline constexpr int kMaxJsonDepth = 8;
inline constexpr std::size_t kMaxTimings = 16;          // fields in a result's timings
inline constexpr std::size_t kMaxErrorMessage = 200;

// {"type":"hello","name":"gpu-1"} — name optional.
struct Hello {
  std::string name = "worker";
};
// {"type":"result","job_id":"j12","timings":{"model_ms":41.5}} — the JPEG follows as binary.
// timings: at most kMaxTimings fields of short names and finite numbers; others are dropped.
struct ResultHeader {
  std::uint64_t job_id = 0;
  nlohmann::json timings = nlohmann::json::object();
};
// {"type":"error","job_id":"j12","message":"CUDA out of memory"} — message optional.
struct JobError {
  std::uint64_t job_id = 0;
  std::string message;
};
using WorkerMessage = std::variant<Hello, ResultHeader, JobError>;

// "j" followed by 1–19 digits, no leading zero, not zero. Job ids start at 1, so no id can
// match an idle worker.
std::optional<std::uint64_t> parse_job_id(std::string_view text);
std::string job_id_text(std::uint64_t id);

// One text message from a worker. Errors are 400 with code bad_message (or too_large).
Expected<WorkerMessage> parse_worker_text(std::string_view text);

// One message on a streamer's ingest socket: only binary JPEG frames are accepted.
Expected<domain::JpegInfo> check_ingest_message(bool binary, std::string_view data,
                                                const domain::JpegLimits& limits);

// JSON parse with a nesting-depth limit; discarded (nullopt) past max_depth or when invalid.
std::optional<nlohmann::json> parse_json_limited(std::string_view text, int max_depth);

}  // namespace ds::live::wire
