// The live wire protocol in one place (docs/protocol.md): WebSocket close codes, one typed
// encoder per message the server or a worker sends, and strict decoders for what arrives.
// Decoding never throws: it returns a typed message or an Error. Pure: no I/O, no clock.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "domain/jpeg.hpp"
#include "live/stream_state.hpp"
#include "util/expected.hpp"

namespace ds::live {

// One encoded message, shared by every connection it is queued to (never copied per viewer).
using Bytes = std::shared_ptr<const std::string>;

inline Bytes make_bytes(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

}  // namespace ds::live

namespace ds::live::wire {

// ---- close codes ---------------------------------------------------------------------------

// Every WebSocket close code used by the server, the reference worker and pusher, the web
// pages and the SDKs. docs/protocol.md has one table row per value (a unit test checks).
enum class CloseCode : std::uint16_t {
  kNormal = 1000,         // done: a pusher's input ended, a worker stops, the studio stops
  kGoingAway = 1001,      // an SDK worker gives up on a silent server
  kProtocolError = 1002,  // an SDK saw the peer break RFC 6455
  kInvalidData = 1007,    // an SDK got a text message (or close reason) that is not UTF-8
  kPolicy = 1008,         // repeated bad input: 10 bad frames or bad messages in a row
  kTooBig = 1009,         // a message over the socket's size limit
  kInternal = 1011,       // the connect step failed unexpectedly
  kTryAgain = 1013,       // the database is unavailable; reconnect later
  kReplaced = 4001,       // a newer ingest connection for the same stream took over
  kEnded = 4002,          // the stream ended (or is not active)
  kJobTimeout = 4008,     // a worker held its job past the deadline
  kUnauthorized = 4401,   // not authenticated, or the credential was revoked
  kNoCredits = 4402,      // not enough credits to start or continue
  kForbidden = 4403,      // a cookie connection from a foreign origin
  kNotFound = 4404,       // no such streamer
  kConflict = 4409,       // the request conflicts with the stream's state (not_started)
};

struct CloseCodeInfo {
  CloseCode code;
  std::string_view name;     // the enumerator without its k, snake_case
  std::string_view meaning;  // one line, as in docs/protocol.md
};

// Every CloseCode, in increasing order.
std::span<const CloseCodeInfo> close_codes();
constexpr int code_value(CloseCode c) { return static_cast<int>(c); }

// The close code that tells a client why its connect step was refused. The one place where
// an error becomes a close code.
CloseCode close_code_for(const Error& e);

// ---- limits and job ids --------------------------------------------------------------------

inline constexpr std::size_t kMaxWorkerName = 60;         // bytes, cut at a character boundary
inline constexpr std::size_t kMaxWorkerText = 64 * 1024;  // a worker's JSON message
inline constexpr int kMaxJsonDepth = 8;
inline constexpr std::size_t kMaxTimings = 16;  // fields in a result's timings
inline constexpr std::size_t kMaxErrorMessage = 200;
inline constexpr int kMaxServerJsonDepth = 32;  // what a worker accepts from the server
inline constexpr int kProtocolVersion = 1;
inline constexpr int kMaxSlots = 8;   // jobs or batches a worker may hold (hello "slots")
inline constexpr int kMaxBatch = 16;  // jobs in one batch (hello "max_batch")

// "j" followed by 1–19 digits, no leading zero, not zero. Job ids start at 1, so no id can
// match an idle worker.
std::optional<std::uint64_t> parse_job_id(std::string_view text);
std::string job_id_text(std::uint64_t id);

// JSON parse with a nesting-depth limit; discarded (nullopt) past max_depth or when invalid.
std::optional<nlohmann::json> parse_json_limited(std::string_view text, int max_depth);

// ---- server → client (every role) ----------------------------------------------------------

// {"type":"error","code":"bad_frame","message":"…"}
Bytes encode_error(std::string_view code, std::string_view message);
// {"type":"ended","reason":"stopped","message":"…"}, right before the streamer is closed.
Bytes encode_ended(EndReason reason, std::string_view message);

// ---- server → viewers and the streamer -----------------------------------------------------

// {"type":"state","state":"offline|live|waiting|ended"}
Bytes encode_state(StreamState state);
// {"type":"viewers","count":12}
Bytes encode_viewers(int count);
// A viewer event as a node reads one relayed from a stream's home: its type, and the state of a
// "state" event (nullopt for a state this version does not know). Nullopt when the text is not
// a JSON object with a string "type".
struct RelayedEvent {
  std::string type;
  std::optional<StreamState> state;
};
std::optional<RelayedEvent> parse_relayed_event(std::string_view text);
// {"type":"frame","seq":42,"captured_ms":…,"processed_ms":…,"timings":{…}}: sent right
// before each processed JPEG.
struct FrameHeader {
  std::uint64_t seq = 0;
  std::int64_t captured_ms = 0;
  std::int64_t processed_ms = 0;
  nlohmann::json timings;  // the worker's, when it sent an object
};
Bytes encode_frame_header(const FrameHeader& f);
// Video viewers (`?video=h264`): the header of one H.264 access unit, sent in the inline
// layout below (prefix, this JSON, the Annex-B unit). {"type":"video","seq":…,"key":…,
// "decode_only":…,"ts_ms":…,"captured_ms":…,"processed_ms":…}, and on key units also
// "codec","width","height" (docs/protocol.md, "Video").
struct VideoHeader {
  std::uint64_t seq = 0;
  bool key = false;
  bool decode_only = false;
  std::int64_t ts_ms = 0;
  std::int64_t captured_ms = 0;
  std::int64_t processed_ms = 0;
  std::string codec;  // key units only
  int width = 0;
  int height = 0;
};
Bytes encode_video_header(const VideoHeader& v);
// Inline frames, for viewers that ask for them (`?frames=inline`): one binary message per
// frame = a 4-byte big-endian length N, N bytes of the frame header JSON above, the JPEG.
// The prefix is all a viewer's write adds: the header JSON and the JPEG are shared.
constexpr std::size_t kInlineFramePrefixBytes = 4;
std::array<unsigned char, kInlineFramePrefixBytes> inline_frame_prefix(std::size_t meta_bytes);
struct InlineFrame {
  std::string_view meta;  // the frame header JSON
  std::string_view jpeg;
};
// Splits an inline frame message; nullopt when it is shorter than its prefix says.
std::optional<InlineFrame> split_inline_frame(std::string_view message);
// {"type":"styles","styles":StyleState}
Bytes encode_styles(const nlohmann::json& style_state);
// {"type":"settings","settings":{…}}
Bytes encode_settings(const nlohmann::json& settings);
// {"type":"comment","comment":{…}}
Bytes encode_comment(const nlohmann::json& comment);
// {"type":"comment_deleted","id":5}
Bytes encode_comment_deleted(long long id);

// ---- server → streamer ---------------------------------------------------------------------

// {"type":"status",…} about once a second; extra (balance, remaining minutes) is merged in.
struct Status {
  StreamState state = StreamState::kWaiting;
  long long stream_id = 0;
  int viewers = 0;
  std::uint64_t frames_in = 0;
  std::uint64_t frames_dropped = 0;
  std::uint64_t frames_skipped = 0;  // unchanged since the last one processed: not processed
  std::uint64_t frames_out = 0;
  double fps_in = 0;  // rounded to 0.1 on the wire
  double fps_out = 0;
  double model_ms = 0;  // rounded to whole milliseconds
  std::int64_t frame_age_ms = 0;
  int workers_total = 0;
  int workers_busy = 0;
  nlohmann::json extra = nlohmann::json::object();
};
Bytes encode_status(const Status& s);

// ---- server ↔ worker -----------------------------------------------------------------------

// {"type":"welcome","name":"gpu-1","slots":2,"max_batch":4}: the answer to hello, before the
// first job, with what the server accepted.
Bytes encode_welcome(std::string_view name, int slots = 1, int max_batch = 1);
// {"type":"job","job_id":"j812","stream":"alice","seq":42,"captured_ms":…,"deadline_ms":…,
//  "params":{"prompt":…,"strength":…,"seed":…}}, followed by the input JPEG as binary.
struct Job {
  std::uint64_t job_id = 0;
  std::string stream;
  std::uint64_t seq = 0;
  std::int64_t captured_ms = 0;
  std::int64_t deadline_ms = 0;
  std::string prompt;
  double strength = 0;
  std::int64_t seed = 0;
};
Bytes encode_job(const Job& job);
// {"type":"batch","jobs":[{job without "type"},…]}, followed by one input JPEG per job in order.
Bytes encode_batch(std::span<const Job> jobs);
// {"type":"cancel","job_id":"j9"}: a newer frame of j9's stream came while j9 waited.
Bytes encode_cancel(std::uint64_t job_id);

// Worker → server, as the server decodes them.
// {"type":"hello","name":"gpu-1","slots":2,"max_batch":4} — every field optional.
struct Hello {
  std::string name = "worker";
  int slots = 1;      // 1..kMaxSlots: jobs or batches the worker may hold
  int max_batch = 1;  // 1..kMaxBatch: jobs per batch; above 1 the worker gets `batch` messages
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
// {"type":"cancelled","job_id":"j12"} — the worker dropped a cancelled job before starting it.
struct Cancelled {
  std::uint64_t job_id = 0;
};
using WorkerMessage = std::variant<Hello, ResultHeader, JobError, Cancelled>;

// One text message from a worker. Errors are 400 with code bad_message (or too_large).
Expected<WorkerMessage> parse_worker_text(std::string_view text);

// Worker → server, as the reference worker writes them. A job id is echoed exactly as the
// job carried it (null: left out).
// slots and max_batch go on the wire only above 1 (a server that predates them sees the
// hello it always saw).
Bytes encode_hello(std::string_view name, std::string_view backend, int slots = 1,
                   int max_batch = 1);
struct ResultTimings {
  double decode_ms = 0;  // each rounded to two decimals on the wire
  double infer_ms = 0;
  double encode_ms = 0;
  int batch = 1;  // jobs in the model call that made it; on the wire as "batch" above 1
};
Bytes encode_result(const nlohmann::json& job_id, const ResultTimings& timings);
Bytes encode_job_error(const nlohmann::json& job_id, std::string_view code,
                       std::string_view message);
// {"type":"cancelled","job_id":"j9"}: the answer to a cancel for a job not started.
Bytes encode_cancelled(const nlohmann::json& job_id);

// Server → worker, as the reference worker decodes them: leniently, since a job's fields
// are only echoed or logged, but never by throwing.
struct Welcome {
  std::optional<std::string> worker_id;
  std::optional<std::int64_t> job_timeout_ms;
  std::optional<std::int64_t> slots;  // what the server accepted, when it says
  std::optional<std::int64_t> max_batch;
};
struct JobHeader {
  nlohmann::json job_id;  // echoed verbatim in the answer; null when absent
  std::string stream;
  std::optional<std::int64_t> seq;
  nlohmann::json params = nlohmann::json::object();
};
// {"type":"batch","jobs":[…]}: one JPEG per job follows, in order. "jobs" must be an array of
// 1 to kMaxBatch objects (otherwise a bad_message: the worker cannot tell how many follow);
// each element is read like a job's fields.
struct BatchHeader {
  std::vector<JobHeader> jobs;
};
// {"type":"cancel","job_id":"j9"}
struct Cancel {
  nlohmann::json job_id;  // compared with the held jobs' ids as they came; null when absent
};
struct ServerError {
  std::string code;
  std::string job_id;
  std::string message;
};
struct OtherMessage {  // a type this worker does not know; ignored
  std::string type;
};
using ServerMessage =
    std::variant<Welcome, JobHeader, BatchHeader, Cancel, ServerError, OtherMessage>;
Expected<ServerMessage> parse_server_text(std::string_view text);

// Server → streamer, as the push CLI decodes them: leniently, never by throwing. Each keeps
// the whole message (fields) for the log; push acts on status (counted) and ended (why the
// socket is about to close).
struct StreamStatus {
  nlohmann::json fields;
};
struct StreamEnded {
  std::string reason;
  std::string message;
  nlohmann::json fields;
};
struct StreamError {
  std::string code;
  std::string message;
  nlohmann::json fields;
};
struct ProcessedFrameNote {  // the "frame" header before a processed JPEG
  nlohmann::json fields;
};
struct OtherStreamerMessage {  // styles, settings, comment, viewers, …: logged only
  std::string type;
  nlohmann::json fields;
};
using StreamerMessage =
    std::variant<StreamStatus, StreamEnded, StreamError, ProcessedFrameNote, OtherStreamerMessage>;
Expected<StreamerMessage> parse_streamer_text(std::string_view text);

// ---- streamer → server ---------------------------------------------------------------------

// One message on a streamer's ingest socket: only binary JPEG frames are accepted.
Expected<domain::JpegInfo> check_ingest_message(bool binary, std::string_view data,
                                                const domain::JpegLimits& limits);

}  // namespace ds::live::wire
