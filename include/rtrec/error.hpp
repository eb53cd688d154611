// Errors of the embedding API: an error_code saying what kind of failure it
// is (and so what a caller can do about it) plus a message naming what
// failed, and result<T>, a value or such an error. No CAF here: the actors
// use CAF's error type inside and the facade converts at its edge.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace rtrec {

/// Kinds of failure (also the codes of rtrec's CAF error category "rtrec").
enum class error_code : std::uint8_t {
  none = 0,
  shard_unavailable = 1,  ///< the owning shard is dead or did not answer in time: retry later
  overloaded = 2,         ///< too much in flight: retry after a short delay
  invalid_request = 3,    ///< a field of the request is out of range: fix the request
  not_found = 4,          ///< unknown user or item where one is required
  shutting_down = 5,      ///< the service is stopping
};

/// "shard_unavailable", "overloaded", ...; "unknown" for other values.
inline const char* to_string(error_code x) noexcept {
  switch (x) {
    case error_code::none: return "none";
    case error_code::shard_unavailable: return "shard_unavailable";
    case error_code::overloaded: return "overloaded";
    case error_code::invalid_request: return "invalid_request";
    case error_code::not_found: return "not_found";
    case error_code::shutting_down: return "shutting_down";
  }
  return "unknown";
}

/// A failure: its kind and what failed (the message says what to do).
struct error {
  error_code code = error_code::none;
  std::string message;

  error() = default;
  error(error_code c, std::string m = {}) : code(c), message(std::move(m)) {}

  /// True for an actual error (code != none).
  explicit operator bool() const noexcept { return code != error_code::none; }
  /// "rtrec: <code>: <message>" (the form logs and HTTP bodies use).
  std::string to_string() const {
    std::string out = std::string{"rtrec: "} + rtrec::to_string(code);
    if (!message.empty())
      out += ": " + message;
    return out;
  }
  /// Errors compare by kind only (messages carry details that vary).
  friend bool operator==(const error& a, const error& b) noexcept { return a.code == b.code; }
  friend bool operator!=(const error& a, const error& b) noexcept { return !(a == b); }
  friend bool operator==(const error& a, error_code b) noexcept { return a.code == b; }
  friend bool operator!=(const error& a, error_code b) noexcept { return a.code != b; }
};

/// A T or an error. Converts to true when it holds a value; *r and r-> read
/// the value (only then), r.error() the error (only when false).
template <class T>
class result {
 public:
  result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  result(rtrec::error err) : v_(std::in_place_index<1>, std::move(err)) {}
  result(error_code code, std::string message)
    : v_(std::in_place_index<1>, rtrec::error{code, std::move(message)}) {}

  explicit operator bool() const noexcept { return v_.index() == 0; }
  bool has_value() const noexcept { return v_.index() == 0; }

  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }
  T&& operator*() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }

  rtrec::error& error() & { return std::get<1>(v_); }
  const rtrec::error& error() const& { return std::get<1>(v_); }
  rtrec::error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, rtrec::error> v_;
};

}  // namespace rtrec
