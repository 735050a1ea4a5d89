// A value or an error (kind, code, message): the error path without exceptions. The kind says
// what went wrong in words every layer shares; api/ turns it into an HTTP status
// (api::http_status) and the live protocol into a WebSocket close code.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace ds {

enum class ErrorKind {
  kInvalid,          // the request is malformed or breaks a rule
  kUnauthorized,     // no valid credential
  kPaymentRequired,  // not enough credits
  kForbidden,        // a valid credential that may not do this
  kNotFound,         // no such thing (or not visible to the caller)
  kConflict,         // clashes with the current state
  kTooLarge,         // over a size limit
  kWrongMediaType,   // the body is not of the type the endpoint takes (e.g. JSON)
  kRateLimited,      // too many attempts; try again later
  kInternal,         // a bug or a local failure
  kUpstreamFailed,   // a provider we depend on (Stripe) failed
  kUnavailable,      // a dependency is down or not configured; try again later
};

struct Error {
  ErrorKind kind = ErrorKind::kInvalid;
  std::string code;
  std::string message;
};

template <class T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}
  Expected(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

struct Ok {};

inline Error bad_request(std::string message, std::string code = "bad_request") {
  return {ErrorKind::kInvalid, std::move(code), std::move(message)};
}
inline Error unauthorized(std::string message = "login required") {
  return {ErrorKind::kUnauthorized, "unauthorized", std::move(message)};
}
inline Error forbidden(std::string message = "forbidden") {
  return {ErrorKind::kForbidden, "forbidden", std::move(message)};
}
inline Error not_found(std::string message = "not found") {
  return {ErrorKind::kNotFound, "not_found", std::move(message)};
}
inline Error conflict(std::string message, std::string code = "conflict") {
  return {ErrorKind::kConflict, std::move(code), std::move(message)};
}
inline Error rate_limited(std::string message) {
  return {ErrorKind::kRateLimited, "rate_limited", std::move(message)};
}

}  // namespace ds
