#include "engine/event.hpp"

#include <xxhash.h>

#include <array>
#include <cctype>
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
  auto equal_ignoring_case = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size())
      return false;
    for (std::size_t k = 0; k < a.size(); ++k)
      if (std::tolower(static_cast<unsigned char>(a[k])) != static_cast<unsigned char>(b[k]))
        return false;
    return true;
  };
  struct entry {
    const char* name;
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
  for (const auto& e : table)
    if (equal_ignoring_case(name, e.name))
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

reject_reason validate_id(std::string_view id, std::size_t max_length) noexcept {
  if (id.size() > max_length)
    return reject_reason::id_too_long;
  for (char c : id) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '/')
      return reject_reason::bad_id_char;
  }
  return reject_reason::none;
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
