// Fuzzes a model worker's text messages (ds::live::wire::parse_worker_text): whatever a worker
// sends, the parser answers a message or an error, and what it accepts is safe to use (job ids
// canonical, labels clean UTF-8 that can be serialised again). The same bytes go through the
// worker's decoder of server messages (parse_server_text) and push's (parse_streamer_text).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "check.hpp"
#include "domain/text.hpp"
#include "live/protocol.hpp"

namespace {

using namespace ds::live::wire;

// A label the hub may log and send on: valid UTF-8, no control characters, within max bytes,
// and serialisable without throwing.
void check_label(std::string_view label, std::size_t max, std::string_view in) {
  DS_FUZZ_CHECK(label.size() <= max, in);
  DS_FUZZ_CHECK(ds::domain::is_valid_utf8(label), in);
  for (unsigned char c : label) DS_FUZZ_CHECK(c >= 0x20 && c != 0x7F, in);
  DS_FUZZ_CHECK(!nlohmann::json(std::string(label)).dump().empty(), in);
}

void check_job_id(std::uint64_t id, std::string_view in) {
  DS_FUZZ_CHECK(id != 0, in);
  DS_FUZZ_CHECK(parse_job_id(job_id_text(id)) == id, in);
}

int depth_of(const nlohmann::json& j) {
  if (!j.is_structured()) return 0;
  int d = 0;
  for (const auto& v : j) d = std::max(d, depth_of(v));
  return d + 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  // Job ids have one spelling: whatever parses prints back as the same text.
  if (auto id = parse_job_id(in)) {
    DS_FUZZ_CHECK(*id != 0, in);
    DS_FUZZ_CHECK(job_id_text(*id) == in, in);
  }

  if (auto j = parse_json_limited(in, kMaxJsonDepth))
    DS_FUZZ_CHECK(depth_of(*j) <= kMaxJsonDepth, in);

  // The reference worker's decoder of server messages answers without throwing, and a batch
  // it accepts says how many JPEGs follow.
  if (auto server = parse_server_text(in)) {
    if (auto* batch = std::get_if<BatchHeader>(&*server)) {
      DS_FUZZ_CHECK(!batch->jobs.empty(), in);
      DS_FUZZ_CHECK(batch->jobs.size() <= static_cast<std::size_t>(kMaxBatch), in);
    }
  }

  // The push CLI's decoder of the ingest socket's messages answers without throwing, and
  // whatever it accepts is an object that can be logged.
  if (auto streamer = parse_streamer_text(in)) {
    std::visit([&](const auto& m) { DS_FUZZ_CHECK(m.fields.is_object(), in); }, *streamer);
  }

  auto parsed = parse_worker_text(in);
  if (!parsed) {
    const auto& e = parsed.error();
    DS_FUZZ_CHECK(e.kind == ds::ErrorKind::kInvalid || e.kind == ds::ErrorKind::kTooLarge, in);
    DS_FUZZ_CHECK(e.kind != ds::ErrorKind::kTooLarge || size > kMaxWorkerText, in);
    return 0;
  }
  if (auto* hello = std::get_if<Hello>(&*parsed)) {
    DS_FUZZ_CHECK(!hello->name.empty(), in);
    check_label(hello->name, kMaxWorkerName, in);
    DS_FUZZ_CHECK(hello->slots >= 1 && hello->slots <= kMaxSlots, in);
    DS_FUZZ_CHECK(hello->max_batch >= 1 && hello->max_batch <= kMaxBatch, in);
  } else if (auto* result = std::get_if<ResultHeader>(&*parsed)) {
    check_job_id(result->job_id, in);
    DS_FUZZ_CHECK(result->timings.is_object(), in);
    DS_FUZZ_CHECK(result->timings.size() <= kMaxTimings, in);
    for (const auto& [k, v] : result->timings.items()) {
      check_label(k, 40, in);
      DS_FUZZ_CHECK(v.is_number() && std::isfinite(v.get<double>()), in);
    }
    DS_FUZZ_CHECK(!result->timings.dump().empty(), in);
  } else if (auto* error = std::get_if<JobError>(&*parsed)) {
    check_job_id(error->job_id, in);
    check_label(error->message, kMaxErrorMessage, in);
  } else if (auto* cancelled = std::get_if<Cancelled>(&*parsed)) {
    check_job_id(cancelled->job_id, in);
  }
  return 0;
}
