// The interaction event: what a user did to an item, and when.
//
// Ids are strings at every edge (files, API, output). Inside the engine a
// string id is mapped to a 64-bit key by `hash_id` (XXH3); `id_dictionary`
// detects two different strings that map to the same key, so they never
// silently become the same user or item.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rtrec::engine {

/// Internal 64-bit key of a user or item id. Never 0 (0 marks "no key").
using key_t = std::uint64_t;

/// Returns the stable 64-bit key of `id` (XXH3-64, seed 0; 0 is remapped to
/// 1). Equal on every node, process and run.
key_t hash_id(std::string_view id) noexcept;

/// Kinds of interaction. `dislike` is negative: it excludes the item from the
/// user's recommendations and feeds no model.
enum class event_type : std::uint8_t {
  view = 0,
  click = 1,
  like = 2,
  rating = 3,
  purchase = 4,
  dislike = 5,
};

constexpr std::size_t event_type_count = 6;

/// Returns "view", "click", ... for `t`.
const char* to_string(event_type t) noexcept;

/// Parses a type name (case-insensitive; also accepts Gorse-style synonyms
/// "read"->view, "star"->like, "rate"->rating, "cart"/"buy"->purchase,
/// "hide"->dislike). Returns nullopt for an unknown name.
std::optional<event_type> parse_event_type(std::string_view name) noexcept;

/// One interaction. Plain data; owned by whoever holds it.
struct event {
  std::string user;            ///< user id, 1..max_id_length bytes
  std::string item;            ///< item id, 1..max_id_length bytes
  event_type type = event_type::view;
  double value = 0.0;          ///< rating value for `rating`, else ignored
  std::int64_t timestamp = 0;  ///< milliseconds since the Unix epoch (UTC)
  std::string id;              ///< optional event id for idempotence; may be empty
  /// What the user's feedback history keeps besides the fields above (see
  /// engine/feedback.hpp); none of it changes the model. Gorse's Comment:
  std::string comment{};
  /// The Timestamp exactly as the application wrote it, answered back by
  /// the history (empty: given as Unix seconds or not given).
  std::string timestamp_text{};
  /// When the user already has a record of this (type, item): true replaces
  /// it (Gorse's PUT /api/feedback), false keeps it (POST). The event is
  /// applied to the model either way.
  bool overwrite = false;
};

/// Why an event is invalid: something about the event itself (sending it
/// again unchanged fails again). Failures to deliver a valid event are
/// another type (rtrec::delivery_failure). Stable numbering: it is part of
/// the contract.
enum class reject_reason : std::uint8_t {
  none = 0,
  empty_user,
  empty_item,
  id_too_long,
  bad_id_char,    ///< control character or '/' in an id
  bad_value,      ///< NaN, infinite or out of [min_rating, max_rating]
  bad_timestamp,  ///< negative, or after year 9999
  bad_type,
  id_collision,   ///< a different string already owns this id's 64-bit key
  text_too_long,  ///< comment or timestamp text over its limit
};

constexpr std::size_t reject_reason_count = 10;

/// Returns "empty_user", ... for `r`.
const char* to_string(reject_reason r) noexcept;

/// Limits that `validate` enforces.
struct validation_limits {
  std::size_t max_id_length = 256;
  double min_rating = 0.0;
  double max_rating = 10.0;
  /// An event's comment and timestamp text (kept in the feedback history).
  std::size_t max_comment_length = 1024;
  std::size_t max_timestamp_text = 64;
};

/// Returns reject_reason::none when `e` is acceptable, else the first problem
/// found. Pure function.
reject_reason validate(const event& e, const validation_limits& limits = {}) noexcept;

/// Returns none when `id` is a valid id (non-empty is checked by the caller),
/// else id_too_long or bad_id_char.
reject_reason validate_id(std::string_view id, std::size_t max_length) noexcept;

}  // namespace rtrec::engine
