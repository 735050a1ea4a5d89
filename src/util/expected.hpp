// A value or an API-level error (status, code, message): the error path without exceptions.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace ds {

struct Error {
  int status = 400;
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
  return {400, std::move(code), std::move(message)};
}
inline Error unauthorized(std::string message = "login required") {
  return {401, "unauthorized", std::move(message)};
}
inline Error forbidden(std::string message = "forbidden") {
  return {403, "forbidden", std::move(message)};
}
inline Error not_found(std::string message = "not found") {
  return {404, "not_found", std::move(message)};
}
inline Error conflict(std::string message, std::string code = "conflict") {
  return {409, std::move(code), std::move(message)};
}

}  // namespace ds
