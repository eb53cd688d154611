#include "engine/event.hpp"

#include <xxhash.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <cmath>

namespace rtrec::engine {

key_t hash_id(std::string_view id) noexcept {
  auto h = static_cast<key_t>(XXH3_64bits(id.data(), id.size()));
  return h == 0 ? 1 : h;
}

const char* to_string(event_type t) noexcept {
  switch (t) {
    case event_type::view: return "view";
    case event_type::click: return "click";
    case event_type::like: return "like";
    case event_type::rating: return "rating";
    case event_type::purchase: return "purchase";
    case event_type::dislike: return "dislike";
  }
  return "unknown";
}

std::optional<event_type> parse_event_type(std::string_view name) noexcept {
  struct entry {
    std::string_view name;
    event_type type;
  };
  static constexpr std::array<entry, 12> table{{
      {"view", event_type::view},
      {"read", event_type::view},
      {"click", event_type::click},
      {"like", event_type::like},
      {"star", event_type::like},
      {"rating", event_type::rating},
      {"rate", event_type::rating},
      {"purchase", event_type::purchase},
      {"buy", event_type::purchase},
      {"cart", event_type::purchase},
      {"dislike", event_type::dislike},
      {"hide", event_type::dislike},
  }};
  constexpr std::size_t longest = [] {
    std::size_t n = 0;
    for (const auto& e : table)
      n = std::max(n, e.name.size());
    return n;
  }();
  // ASCII case folding, as std::tolower in the "C" locale, without a call
  // per character.
  if (name.empty() || name.size() > longest)
    return std::nullopt;
  char folded[longest];
  for (std::size_t k = 0; k < name.size(); ++k) {
    const char c = name[k];
    folded[k] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  }
  const std::string_view lower(folded, name.size());
  for (const auto& e : table)
    if (lower == e.name)
      return e.type;
  return std::nullopt;
}

const char* to_string(reject_reason r) noexcept {
  switch (r) {
    case reject_reason::none: return "none";
    case reject_reason::empty_user: return "empty_user";
    case reject_reason::empty_item: return "empty_item";
    case reject_reason::id_too_long: return "id_too_long";
    case reject_reason::bad_id_char: return "bad_id_char";
    case reject_reason::bad_value: return "bad_value";
    case reject_reason::bad_timestamp: return "bad_timestamp";
    case reject_reason::bad_type: return "bad_type";
    case reject_reason::id_collision: return "id_collision";
    case reject_reason::text_too_long: return "text_too_long";
  }
  return "unknown";
}

namespace {

/// `b` in every byte of a word.
constexpr std::uint64_t every_byte(std::uint8_t b) noexcept { return 0x0101010101010101ull * b; }

/// Non-zero when some byte of `x` is a control character (below 0x20), DEL
/// or '/': the bytes an id may not hold, eight at a time. The tests are
/// the exact "has a byte below n" / "has a zero byte" ones: a borrow can
/// only start at a byte that matches, so a word without one gives 0.
inline std::uint64_t bad_id_bytes(std::uint64_t x) noexcept {
  constexpr std::uint64_t high = every_byte(0x80);
  const std::uint64_t control = (x - every_byte(0x20)) & ~x & high;
  const std::uint64_t del = x ^ every_byte(0x7f);
  const std::uint64_t slash = x ^ every_byte('/');
  return control | ((del - every_byte(1)) & ~del & high)
         | ((slash - every_byte(1)) & ~slash & high);
}

inline std::uint64_t load8(const char* p) noexcept {
  std::uint64_t x;
  std::memcpy(&x, p, sizeof x);
  return x;
}

inline std::uint64_t load4(const char* p) noexcept {
  std::uint32_t x;
  std::memcpy(&x, p, sizeof x);
  return x;
}

}  // namespace

reject_reason validate_id(std::string_view id, std::size_t max_length) noexcept {
  if (id.size() > max_length)
    return reject_reason::id_too_long;
  const char* p = id.data();
  const std::size_t n = id.size();
  std::uint64_t bad = 0;
  if (n >= 8) {
    std::size_t k = 0;
    for (; k + 8 <= n; k += 8)
      bad |= bad_id_bytes(load8(p + k));
    if (k < n)  // the last 8 bytes, overlapping what was checked
      bad |= bad_id_bytes(load8(p + n - 8));
  } else if (n >= 4) {  // two 4-byte halves, overlapping when n < 8
    bad = bad_id_bytes(load4(p) | load4(p + n - 4) << 32);
  } else if (n > 0) {  // bytes 0, n/2 and n-1 cover 1 to 3 bytes; the rest 'a'
    const auto byte = [p](std::size_t k) {
      return std::uint64_t{static_cast<unsigned char>(p[k])};
    };
    bad = bad_id_bytes((every_byte('a') << 24) | byte(0) | byte(n / 2) << 8 | byte(n - 1) << 16);
  }
  return bad != 0 ? reject_reason::bad_id_char : reject_reason::none;
}

reject_reason validate(const event& e, const validation_limits& limits) noexcept {
  if (e.user.empty())
    return reject_reason::empty_user;
  if (e.item.empty())
    return reject_reason::empty_item;
  if (auto r = validate_id(e.user, limits.max_id_length); r != reject_reason::none)
    return r;
  if (auto r = validate_id(e.item, limits.max_id_length); r != reject_reason::none)
    return r;
  if (e.id.size() > limits.max_id_length)
    return reject_reason::id_too_long;
  if (static_cast<std::size_t>(e.type) >= event_type_count)
    return reject_reason::bad_type;
  if (!std::isfinite(e.value))
    return reject_reason::bad_value;
  if (e.type == event_type::rating
      && (e.value < limits.min_rating || e.value > limits.max_rating))
    return reject_reason::bad_value;
  // 9999-12-31T23:59:59.999Z in milliseconds.
  constexpr std::int64_t max_ts = 253402300799999LL;
  if (e.timestamp < 0 || e.timestamp > max_ts)
    return reject_reason::bad_timestamp;
  if (e.comment.size() > limits.max_comment_length
      || e.timestamp_text.size() > limits.max_timestamp_text)
    return reject_reason::text_too_long;
  return reject_reason::none;
}

}  // namespace rtrec::engine
