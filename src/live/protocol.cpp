#include "live/protocol.hpp"

#include <array>
#include <cmath>

#include "domain/text.hpp"

namespace ds::live::wire {

namespace {

using json = nlohmann::json;

constexpr std::array kCloseCodes = {
    CloseCodeInfo{CloseCode::kNormal, "normal", "done: input ended, a worker or the studio stops"},
    CloseCodeInfo{CloseCode::kGoingAway, "going_away", "an SDK worker gives up on a silent server"},
    CloseCodeInfo{CloseCode::kProtocolError, "protocol_error",
                  "an SDK saw the peer break RFC 6455"},
    CloseCodeInfo{CloseCode::kInvalidData, "invalid_data",
                  "an SDK got text (or a close reason) that is not UTF-8"},
    CloseCodeInfo{CloseCode::kPolicy, "policy", "10 bad frames or bad messages in a row"},
    CloseCodeInfo{CloseCode::kTooBig, "too_big", "a message over the socket's size limit"},
    CloseCodeInfo{CloseCode::kInternal, "internal", "internal error while connecting"},
    CloseCodeInfo{CloseCode::kTryAgain, "try_again", "the database is unavailable; try again"},
    CloseCodeInfo{CloseCode::kReplaced, "replaced", "replaced by a newer ingest connection"},
    CloseCodeInfo{CloseCode::kEnded, "ended", "the stream ended or is not active"},
    CloseCodeInfo{CloseCode::kJobTimeout, "job_timeout", "a worker's job timed out"},
    CloseCodeInfo{CloseCode::kUnauthorized, "unauthorized",
                  "not authenticated, or the credential was revoked"},
    CloseCodeInfo{CloseCode::kNoCredits, "no_credits", "not enough credits"},
    CloseCodeInfo{CloseCode::kForbidden, "forbidden", "forbidden origin"},
    CloseCodeInfo{CloseCode::kNotFound, "not_found", "no such streamer"},
    CloseCodeInfo{CloseCode::kConflict, "conflict", "conflicts with the stream's state"},
};

Bytes dump(const json& j) { return make_bytes(j.dump()); }

std::optional<std::string> string_field(const json& msg, const char* key) {
  auto it = msg.find(key);
  if (it == msg.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

Error bad_message(std::string message) {
  return {ErrorKind::kInvalid, "bad_message", std::move(message)};
}

// Longest prefix of s, at most max bytes, that does not end inside a UTF-8 sequence.
std::string_view utf8_prefix(std::string_view s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

std::optional<std::string> clean_label(const nlohmann::json& v, std::size_t max) {
  if (!v.is_string()) return std::nullopt;
  const auto& s = v.get_ref<const std::string&>();
  if (!domain::is_valid_utf8(s)) return std::nullopt;
  std::string out;
  for (unsigned char c : utf8_prefix(s, max))
    out.push_back(c < 0x20 || c == 0x7F ? ' ' : static_cast<char>(c));
  return out;
}

}  // namespace

std::span<const CloseCodeInfo> close_codes() { return kCloseCodes; }

CloseCode close_code_for(const Error& e) {
  switch (e.kind) {
    case ErrorKind::kUnauthorized:
      return CloseCode::kUnauthorized;
    case ErrorKind::kPaymentRequired:
      return CloseCode::kNoCredits;
    case ErrorKind::kForbidden:
      return CloseCode::kForbidden;
    case ErrorKind::kNotFound:
      return CloseCode::kNotFound;
    case ErrorKind::kUnavailable:
      return CloseCode::kTryAgain;  // database_unavailable
    default:
      return CloseCode::kConflict;
  }
}

std::optional<std::uint64_t> parse_job_id(std::string_view text) {
  if (text.size() < 2 || text.size() > 20 || text[0] != 'j' || text[1] == '0') return std::nullopt;
  std::uint64_t v = 0;
  for (std::size_t i = 1; i < text.size(); ++i) {
    char c = text[i];
    if (c < '0' || c > '9') return std::nullopt;
    auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

std::string job_id_text(std::uint64_t id) { return "j" + std::to_string(id); }

std::optional<nlohmann::json> parse_json_limited(std::string_view text, int max_depth) {
  int depth = 0;
  bool too_deep = false;
  nlohmann::json::parser_callback_t cb = [&](int d, nlohmann::json::parse_event_t event,
                                             nlohmann::json&) {
    if (event == nlohmann::json::parse_event_t::object_start ||
        event == nlohmann::json::parse_event_t::array_start) {
      depth = d + 1;
      if (depth > max_depth) too_deep = true;
    }
    return !too_deep;
  };
  auto j = nlohmann::json::parse(text.begin(), text.end(), cb, false);
  if (too_deep || j.is_discarded()) return std::nullopt;
  return j;
}

Expected<WorkerMessage> parse_worker_text(std::string_view text) {
  if (text.size() > kMaxWorkerText) {
    return Error{ErrorKind::kTooLarge, "too_large", "message is too large"};
  }
  auto parsed = parse_json_limited(text, kMaxJsonDepth);
  if (!parsed || !parsed->is_object()) return bad_message("expected a JSON object with a type");
  const auto& msg = *parsed;
  auto type_it = msg.find("type");
  if (type_it == msg.end() || !type_it->is_string())
    return bad_message("expected a JSON object with a type");
  const auto& type = type_it->get_ref<const std::string&>();

  if (type == "hello") {
    Hello h;
    if (auto n = msg.find("name"); n != msg.end()) {
      auto name = clean_label(*n, kMaxWorkerName);
      if (!name) return bad_message("hello: name must be a UTF-8 string");
      if (!name->empty()) h.name = std::move(*name);
    }
    auto count = [&](const char* key, int max, int& out) {
      auto v = msg.find(key);
      if (v == msg.end()) return true;
      if (!v->is_number_integer()) return false;
      auto n = v->get<std::int64_t>();
      if (n < 1 || n > max) return false;
      out = static_cast<int>(n);
      return true;
    };
    if (!count("slots", kMaxSlots, h.slots)) {
      return bad_message("hello: slots must be an integer from 1 to " + std::to_string(kMaxSlots));
    }
    if (!count("max_batch", kMaxBatch, h.max_batch)) {
      return bad_message("hello: max_batch must be an integer from 1 to " +
                         std::to_string(kMaxBatch));
    }
    return WorkerMessage{std::move(h)};
  }

  auto job_field = [&]() -> std::optional<std::uint64_t> {
    auto j = msg.find("job_id");
    if (j == msg.end() || !j->is_string()) return std::nullopt;
    return parse_job_id(j->get_ref<const std::string&>());
  };

  if (type == "result") {
    auto id = job_field();
    if (!id) return bad_message("result needs a job_id such as \"j12\"");
    ResultHeader r;
    r.job_id = *id;
    if (auto t = msg.find("timings"); t != msg.end()) {
      if (!t->is_object()) return bad_message("result: timings must be an object of numbers");
      for (const auto& [k, v] : t->items()) {
        if (r.timings.size() >= kMaxTimings) break;
        if (k.size() > 40 || !v.is_number()) continue;
        double d = v.get<double>();
        if (!std::isfinite(d)) continue;
        auto key = clean_label(nlohmann::json(k), 40);
        if (!key) continue;
        r.timings[*key] = v;
      }
    }
    return WorkerMessage{std::move(r)};
  }

  if (type == "error") {
    auto id = job_field();
    if (!id) return bad_message("error needs a job_id such as \"j12\"");
    JobError e;
    e.job_id = *id;
    if (auto m = msg.find("message"); m != msg.end()) {
      auto text_msg = clean_label(*m, kMaxErrorMessage);
      if (!text_msg) return bad_message("error: message must be a UTF-8 string");
      e.message = std::move(*text_msg);
    }
    return WorkerMessage{std::move(e)};
  }

  if (type == "cancelled") {
    auto id = job_field();
    if (!id) return bad_message("cancelled needs a job_id such as \"j12\"");
    return WorkerMessage{Cancelled{*id}};
  }
  return bad_message("unknown message type");
}

Bytes encode_error(std::string_view code, std::string_view message) {
  return dump({{"type", "error"}, {"code", code}, {"message", message}});
}

Bytes encode_ended(EndReason reason, std::string_view message) {
  return dump({{"type", "ended"}, {"reason", to_string(reason)}, {"message", message}});
}

Bytes encode_state(StreamState state) {
  return dump({{"type", "state"}, {"state", to_string(state)}});
}

Bytes encode_viewers(int count) { return dump({{"type", "viewers"}, {"count", count}}); }

std::optional<RelayedEvent> parse_relayed_event(std::string_view text) {
  auto parsed = parse_json_limited(text, 8);
  if (!parsed || !parsed->is_object()) return std::nullopt;
  auto type = string_field(*parsed, "type");
  if (!type) return std::nullopt;
  RelayedEvent e{std::move(*type), std::nullopt};
  if (e.type == "state") {
    if (auto s = string_field(*parsed, "state")) e.state = parse_stream_state(*s);
  }
  return e;
}

Bytes encode_frame_header(const FrameHeader& f) {
  json m = {{"type", "frame"},
            {"seq", f.seq},
            {"captured_ms", f.captured_ms},
            {"processed_ms", f.processed_ms}};
  if (f.timings.is_object()) m["timings"] = f.timings;
  return dump(m);
}

Bytes encode_video_header(const VideoHeader& v) {
  json m = {{"type", "video"},
            {"seq", v.seq},
            {"key", v.key},
            {"decode_only", v.decode_only},
            {"ts_ms", v.ts_ms},
            {"captured_ms", v.captured_ms},
            {"processed_ms", v.processed_ms}};
  if (v.key) {
    m["codec"] = v.codec;
    m["width"] = v.width;
    m["height"] = v.height;
  }
  return dump(m);
}

std::array<unsigned char, kInlineFramePrefixBytes> inline_frame_prefix(std::size_t meta_bytes) {
  auto n = static_cast<std::uint32_t>(meta_bytes);
  return {static_cast<unsigned char>(n >> 24), static_cast<unsigned char>(n >> 16),
          static_cast<unsigned char>(n >> 8), static_cast<unsigned char>(n)};
}

std::optional<InlineFrame> split_inline_frame(std::string_view message) {
  if (message.size() < kInlineFramePrefixBytes) return std::nullopt;
  std::uint32_t n = 0;
  for (std::size_t i = 0; i < kInlineFramePrefixBytes; ++i) {
    n = (n << 8) | static_cast<unsigned char>(message[i]);
  }
  if (n > message.size() - kInlineFramePrefixBytes) return std::nullopt;
  return InlineFrame{message.substr(kInlineFramePrefixBytes, n),
                     message.substr(kInlineFramePrefixBytes + n)};
}

Bytes encode_styles(const json& style_state) {
  return dump({{"type", "styles"}, {"styles", style_state}});
}

Bytes encode_settings(const json& settings) {
  return dump({{"type", "settings"}, {"settings", settings}});
}

Bytes encode_comment(const json& comment) {
  return dump({{"type", "comment"}, {"comment", comment}});
}

Bytes encode_comment_deleted(long long id) {
  return dump({{"type", "comment_deleted"}, {"id", id}});
}

Bytes encode_status(const Status& s) {
  json status = {
      {"type", "status"},
      {"state", to_string(s.state)},
      {"stream_id", s.stream_id},
      {"viewers", s.viewers},
      {"frames_in", s.frames_in},
      {"frames_dropped", s.frames_dropped},
      {"frames_skipped", s.frames_skipped},
      {"frames_out", s.frames_out},
      {"fps_in", std::round(s.fps_in * 10) / 10},
      {"fps_out", std::round(s.fps_out * 10) / 10},
      {"model_ms", std::lround(s.model_ms)},
      {"frame_age_ms", s.frame_age_ms},
      {"workers", {{"total", s.workers_total}, {"busy", s.workers_busy}}},
  };
  if (s.extra.is_object()) status.update(s.extra);
  return dump(status);
}

Bytes encode_welcome(std::string_view name, int slots, int max_batch) {
  return dump({{"type", "welcome"}, {"name", name}, {"slots", slots}, {"max_batch", max_batch}});
}

namespace {

json job_fields(const Job& job) {
  return {{"job_id", job_id_text(job.job_id)},
          {"stream", job.stream},
          {"seq", job.seq},
          {"captured_ms", job.captured_ms},
          {"deadline_ms", job.deadline_ms},
          {"params", {{"prompt", job.prompt}, {"strength", job.strength}, {"seed", job.seed}}}};
}

}  // namespace

Bytes encode_job(const Job& job) {
  auto j = job_fields(job);
  j["type"] = "job";
  return dump(j);
}

Bytes encode_batch(std::span<const Job> jobs) {
  auto list = json::array();
  for (const auto& job : jobs) list.push_back(job_fields(job));
  return dump({{"type", "batch"}, {"jobs", std::move(list)}});
}

Bytes encode_cancel(std::uint64_t job_id) {
  return dump({{"type", "cancel"}, {"job_id", job_id_text(job_id)}});
}

Bytes encode_hello(std::string_view name, std::string_view backend, int slots, int max_batch) {
  json hello{
      {"type", "hello"}, {"name", name}, {"backend", backend}, {"protocol", kProtocolVersion}};
  if (slots > 1) hello["slots"] = slots;
  if (max_batch > 1) hello["max_batch"] = max_batch;
  return dump(hello);
}

Bytes encode_result(const json& job_id, const ResultTimings& t) {
  auto round2 = [](double ms) { return std::round(ms * 100.0) / 100.0; };
  json reply{{"type", "result"},
             {"timings",
              {{"decode_ms", round2(t.decode_ms)},
               {"infer_ms", round2(t.infer_ms)},
               {"encode_ms", round2(t.encode_ms)}}}};
  if (t.batch > 1) reply["timings"]["batch"] = t.batch;
  if (!job_id.is_null()) reply["job_id"] = job_id;
  return dump(reply);
}

Bytes encode_job_error(const json& job_id, std::string_view code, std::string_view message) {
  json reply{{"type", "error"}, {"code", code}, {"message", message}};
  if (!job_id.is_null()) reply["job_id"] = job_id;
  return dump(reply);
}

Bytes encode_cancelled(const json& job_id) {
  json reply{{"type", "cancelled"}};
  if (!job_id.is_null()) reply["job_id"] = job_id;
  return dump(reply);
}

namespace {

std::optional<std::int64_t> int_field(const json& msg, const char* key) {
  auto it = msg.find(key);
  if (it == msg.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<std::int64_t>();
}

// A job's fields, in a `job` message or an element of a `batch`.
JobHeader job_header_of(const json& msg) {
  JobHeader j;
  if (auto id = msg.find("job_id"); id != msg.end()) j.job_id = *id;
  j.stream = string_field(msg, "stream").value_or("");
  j.seq = int_field(msg, "seq");
  if (auto p = msg.find("params"); p != msg.end()) j.params = *p;
  return j;
}

}  // namespace

Expected<ServerMessage> parse_server_text(std::string_view text) {
  auto parsed = parse_json_limited(text, kMaxServerJsonDepth);
  if (!parsed || !parsed->is_object()) return bad_message("not a JSON object with a type");
  const auto& msg = *parsed;
  auto type = string_field(msg, "type");
  if (!type) return bad_message("not a JSON object with a type");
  if (*type == "welcome") {
    Welcome w;
    w.worker_id = string_field(msg, "worker_id");
    w.job_timeout_ms = int_field(msg, "job_timeout_ms");
    w.slots = int_field(msg, "slots");
    w.max_batch = int_field(msg, "max_batch");
    return ServerMessage{std::move(w)};
  }
  if (*type == "job") return ServerMessage{job_header_of(msg)};
  if (*type == "batch") {
    auto jobs = msg.find("jobs");
    if (jobs == msg.end() || !jobs->is_array() || jobs->empty() ||
        jobs->size() > static_cast<std::size_t>(kMaxBatch)) {
      return bad_message("batch: jobs must be an array of 1 to " + std::to_string(kMaxBatch) +
                         " jobs");
    }
    BatchHeader b;
    for (const auto& j : *jobs) {
      if (!j.is_object()) return bad_message("batch: every job must be an object");
      b.jobs.push_back(job_header_of(j));
    }
    return ServerMessage{std::move(b)};
  }
  if (*type == "cancel") {
    Cancel c;
    if (auto id = msg.find("job_id"); id != msg.end()) c.job_id = *id;
    return ServerMessage{std::move(c)};
  }
  if (*type == "error") {
    ServerError e;
    e.code = string_field(msg, "code").value_or("");
    e.job_id = string_field(msg, "job_id").value_or("");
    e.message = string_field(msg, "message").value_or("");
    return ServerMessage{std::move(e)};
  }
  return ServerMessage{OtherMessage{*type}};
}

Expected<StreamerMessage> parse_streamer_text(std::string_view text) {
  auto parsed = parse_json_limited(text, kMaxServerJsonDepth);
  if (!parsed || !parsed->is_object()) return bad_message("not a JSON object with a type");
  auto type = string_field(*parsed, "type");
  if (!type) return bad_message("not a JSON object with a type");
  if (*type == "status") return StreamerMessage{StreamStatus{std::move(*parsed)}};
  if (*type == "ended") {
    StreamEnded e;
    e.reason = string_field(*parsed, "reason").value_or("");
    e.message = string_field(*parsed, "message").value_or("");
    e.fields = std::move(*parsed);
    return StreamerMessage{std::move(e)};
  }
  if (*type == "error") {
    StreamError e;
    e.code = string_field(*parsed, "code").value_or("");
    e.message = string_field(*parsed, "message").value_or("");
    e.fields = std::move(*parsed);
    return StreamerMessage{std::move(e)};
  }
  if (*type == "frame") return StreamerMessage{ProcessedFrameNote{std::move(*parsed)}};
  return StreamerMessage{OtherStreamerMessage{*type, std::move(*parsed)}};
}

Expected<domain::JpegInfo> check_ingest_message(bool binary, std::string_view data,
                                                const domain::JpegLimits& limits) {
  if (!binary) {
    return Error{ErrorKind::kInvalid, "bad_frame",
                 "send each frame as one binary message holding a JPEG"};
  }
  return domain::validate_jpeg(data, limits);
}

}  // namespace ds::live::wire
