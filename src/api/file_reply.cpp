#include "api/file_reply.hpp"

#include <cctype>
#include <charconv>
#include <system_error>

namespace ds::api {

namespace {

std::optional<std::uint64_t> number(std::string_view s) {
  std::uint64_t v = 0;
  if (s.empty() || s.size() > 19) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

RangeAnswer parse_byte_range(std::optional<std::string_view> header, std::uint64_t size) {
  RangeAnswer whole;
  if (!header) return whole;
  auto v = trim(*header);
  constexpr std::string_view kUnit = "bytes=";
  if (v.size() < kUnit.size()) return whole;
  for (std::size_t i = 0; i < kUnit.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(v[i])) != kUnit[i]) return whole;
  }
  v = trim(v.substr(kUnit.size()));
  if (v.find(',') != std::string_view::npos) return whole;  // several ranges: the whole file
  auto dash = v.find('-');
  if (dash == std::string_view::npos) return whole;
  auto from = trim(v.substr(0, dash));
  auto to = trim(v.substr(dash + 1));
  RangeAnswer a;
  a.ask = RangeAsk::kPart;
  if (from.empty()) {
    // The last n bytes.
    auto n = number(to);
    if (!n) return whole;
    if (*n == 0 || size == 0) return {RangeAsk::kUnsatisfiable, {}};
    a.range.first = *n >= size ? 0 : size - *n;
    a.range.last = size - 1;
    return a;
  }
  auto first = number(from);
  if (!first) return whole;
  std::optional<std::uint64_t> last;
  if (!to.empty()) {
    last = number(to);
    if (!last || *last < *first) return whole;
  }
  if (*first >= size) return {RangeAsk::kUnsatisfiable, {}};
  a.range.first = *first;
  a.range.last = last && *last < size ? *last : size - 1;
  return a;
}

Response file_response(const Request& req, const std::filesystem::path& path,
                       std::string content_type) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return error_response(404, "not_found", "no such file");
  Response r;
  r.content_type = std::move(content_type);
  r.set_header("Accept-Ranges", "bytes");
  auto answer = parse_byte_range(req.header("range"), size);
  if (answer.ask == RangeAsk::kUnsatisfiable) {
    r = error_response(416, "range_not_satisfiable", "the range starts past the end of the file");
    r.set_header("Content-Range", "bytes */" + std::to_string(size));
    return r;
  }
  Response::FileSpan span{path, 0, size};
  if (answer.ask == RangeAsk::kPart) {
    r.status = 206;
    span.offset = answer.range.first;
    span.length = answer.range.last - answer.range.first + 1;
    r.set_header("Content-Range", "bytes " + std::to_string(answer.range.first) + "-" +
                                      std::to_string(answer.range.last) + "/" +
                                      std::to_string(size));
  }
  r.file = std::move(span);
  return r;
}

}  // namespace ds::api
