// The one binary codec of rtrec's persisted and wire shapes: engine snapshot
// blobs (serialization.cpp) and the storage layer's log payloads, record
// headers, snapshot framing and manifests (storage/) all write and read
// through this writer and reader. No I/O: bytes go to and come from memory.
//
// Encoding: a value is its sizeof(T) bytes in the machine's byte order and
// layout (what memcpy gives; on the supported x86-64 and AArch64 targets that
// is little-endian IEEE-754); a string is a u32 length then its bytes; a
// column is a u64 count then its elements as one raw array (one memcpy). This
// is byte for byte what the previous Boost.Serialization binary archives
// (no header) and the storage codec wrote.
//
// A shape declares its fields once, in a function template over the archive
// (`template <class A> void fields(A& a)`), that both a writer and a reader
// run: the writer's methods take the fields by const reference and append
// them, the reader's take them by reference and fill them. `A::loading` tells
// the two apart where a field list must (sizes of nested sequences). The
// reader checks what the encoding itself implies (bytes left, expected column
// counts, string limits, flag and enum ranges); checks of meaning that only
// loading needs (sums, ranges, finiteness) run after the read.
//
// The reader never trusts its input: every read checks the bytes left first
// (a count is checked before anything is allocated) and throws decode_error,
// never reading out of bounds.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace rtrec::engine::codec {

/// Thrown by a reader when the bytes do not form a valid value.
struct decode_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Passed as a column's expected count when any count is acceptable.
inline constexpr std::uint64_t any_count = ~std::uint64_t{0};

/// Longest string a reader accepts unless a field list says less.
inline constexpr std::size_t default_max_string = std::size_t{1} << 30;

/// Appends fields to a byte string (never throws but std::bad_alloc).
class writer {
 public:
  static constexpr bool loading = false;

  explicit writer(std::string& out) noexcept : out_(out) {}

  /// Appends the sizeof(T) bytes of `x` (T trivially copyable).
  template <class T>
  void value(const T& x) {
    static_assert(std::is_trivially_copyable_v<T>);
    out_.append(reinterpret_cast<const char*>(&x), sizeof(T));
  }
  /// Appends a u32 length and the bytes of `s` (`max_len` is checked on read).
  void str(std::string_view s, std::size_t max_len = default_max_string) {
    static_cast<void>(max_len);
    value(static_cast<std::uint32_t>(s.size()));
    out_.append(s.data(), s.size());
  }
  /// Appends `v` as a column: u64 count, then the elements as one array
  /// (`expected` is checked on read).
  template <class T>
  void column(const std::vector<T>& v, std::uint64_t expected = any_count) {
    static_assert(std::is_trivially_copyable_v<T>);
    static_cast<void>(expected);
    value(static_cast<std::uint64_t>(v.size()));
    out_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
  }
  /// Appends the bytes of `s` as a column of chars.
  void column(std::string_view s, std::uint64_t expected = any_count) {
    static_cast<void>(expected);
    value(static_cast<std::uint64_t>(s.size()));
    out_.append(s.data(), s.size());
  }
  /// Appends `b` as one byte, 0 or 1 (`what` names it in read errors).
  void flag(const bool& b, const char* what) {
    static_cast<void>(what);
    value(static_cast<std::uint8_t>(b ? 1 : 0));
  }
  /// Appends enum `e` as its underlying value (`count` and `what` are checked
  /// and named on read).
  template <class E>
  void enumeration(const E& e, std::size_t count, const char* what) {
    static_cast<void>(count);
    static_cast<void>(what);
    value(static_cast<std::underlying_type_t<E>>(e));
  }
  /// Appends a u32 count, then each element of `v` through `each(element)`
  /// (`min_bytes` and `what` are checked and named on read).
  template <class V, class F>
  void sequence(const V& v, std::size_t min_bytes, const char* what, F&& each) {
    static_cast<void>(min_bytes);
    static_cast<void>(what);
    value(static_cast<std::uint32_t>(v.size()));
    for (const auto& x : v)
      each(x);
  }

 private:
  std::string& out_;
};

/// Reads fields from bytes it does not own; throws decode_error on any
/// shortfall or count that cannot fit, before allocating for it.
class reader {
 public:
  static constexpr bool loading = true;

  explicit reader(std::string_view in) noexcept : in_(in) {}

  /// Reads sizeof(T) bytes into `x` (T trivially copyable; an enum is read
  /// as its underlying value, unchecked: see enumeration()).
  template <class T>
  void value(T& x) {
    static_assert(std::is_trivially_copyable_v<T>);
    need(sizeof(T));
    std::memcpy(&x, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
  }
  template <class T>
  T get() {
    T x;
    value(x);
    return x;
  }
  /// Reads a u32 length and that many bytes; throws if longer than max_len.
  void str(std::string& s, std::size_t max_len = default_max_string) {
    std::string_view v;
    str(v, max_len);
    s.assign(v);
  }
  /// The same, as a view into the input (no copy).
  void str(std::string_view& s, std::size_t max_len = default_max_string) {
    const auto n = get<std::uint32_t>();
    if (n > max_len)
      throw decode_error("string of " + std::to_string(n) + " bytes exceeds the limit of " +
                         std::to_string(max_len));
    s = raw(n);
  }
  /// Reads a column into `v`; throws unless its count fits in the bytes left
  /// and (unless any_count) equals `expected`.
  template <class T>
  void column(std::vector<T>& v, std::uint64_t expected = any_count) {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto n = column_count(sizeof(T), expected);
    v.resize(n);
    if (n > 0)
      std::memcpy(v.data(), in_.data() + pos_, n * sizeof(T));
    pos_ += n * sizeof(T);
  }
  void column(std::string& s, std::uint64_t expected = any_count) {
    s.assign(column_view(expected));
  }
  /// Reads a column of chars as a view into the input (no copy).
  void column(std::string_view& s, std::uint64_t expected = any_count) {
    s = column_view(expected);
  }
  /// Reads one byte into `b`; throws unless it is 0 or 1.
  void flag(bool& b, const char* what) {
    const auto x = get<std::uint8_t>();
    if (x > 1)
      throw decode_error(std::string{what} + " " + std::to_string(x) + " is not 0 or 1");
    b = x == 1;
  }
  /// Reads enum `e` as its underlying value; throws unless below `count`.
  template <class E>
  void enumeration(E& e, std::size_t count, const char* what) {
    const auto x = get<std::underlying_type_t<E>>();
    if (static_cast<std::uint64_t>(x) >= count)
      throw decode_error(std::string{what} + " " + std::to_string(x) + " is unknown");
    e = static_cast<E>(x);
  }
  /// Reads a u32 count, sizes `v` to it and fills each element through
  /// `each(element)`; throws first if the count cannot fit in the bytes left
  /// when every element takes at least `min_bytes` (>= 1).
  template <class V, class F>
  void sequence(V& v, std::size_t min_bytes, const char* what, F&& each) {
    const auto n = get<std::uint32_t>();
    if (n > left() / min_bytes)
      throw decode_error(std::string{what} + " count " + std::to_string(n) + " does not fit in " +
                         std::to_string(left()) + " bytes");
    v.clear();
    v.resize(n);
    for (auto& x : v)
      each(x);
  }
  /// Returns the next `n` bytes (a view into the input).
  std::string_view raw(std::size_t n) {
    need(n);
    auto v = in_.substr(pos_, n);
    pos_ += n;
    return v;
  }

  std::size_t left() const noexcept { return in_.size() - pos_; }
  bool done() const noexcept { return pos_ == in_.size(); }

 private:
  void need(std::size_t n) const {
    if (left() < n)
      throw decode_error("truncated: needs " + std::to_string(n) + " more bytes, " +
                         std::to_string(left()) + " left");
  }
  std::string_view column_view(std::uint64_t expected) {
    const auto n = column_count(1, expected);
    auto v = in_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  std::size_t column_count(std::size_t elem_size, std::uint64_t expected) {
    const auto n = get<std::uint64_t>();
    if (n > left() / elem_size)
      throw decode_error("truncated (a column is longer than the bytes left)");
    if (expected != any_count && n != expected)
      throw decode_error("column of " + std::to_string(n) + " entries where " +
                         std::to_string(expected) + " were expected");
    return static_cast<std::size_t>(n);
  }

  std::string_view in_;
  std::size_t pos_ = 0;
};

}  // namespace rtrec::engine::codec
