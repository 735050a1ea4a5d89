#include "live/protocol.hpp"

#include <cmath>

#include "domain/text.hpp"

namespace ds::live::wire {

namespace {

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
  for (unsigned char c : utf8_prefix(s, max)) out.push_back(c < 0x20 || c == 0x7F ? ' ' : static_cast<char>(c));
  return out;
}

}  // namespace

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
  nlohmann::json::parser_callback_t cb = [&](int d, nlohmann::json::parse_event_t event, nlohmann::json&) {
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
  if (type_it == msg.end() || !type_it->is_string()) return bad_message("expected a JSON object with a type");
  const auto& type = type_it->get_ref<const std::string&>();

  if (type == "hello") {
    Hello h;
    if (auto n = msg.find("name"); n != msg.end()) {
      auto name = clean_label(*n, kMaxWorkerName);
      if (!name) return bad_message("hello: name must be a UTF-8 string");
      if (!name->empty()) h.name = std::move(*name);
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
  return bad_message("unknown message type");
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
