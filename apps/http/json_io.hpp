// The API's request bodies and wire formats, parsed and written without any
// network code: Gorse-shaped feedback and item JSON, RFC 3339 timestamps,
// percent-encoded path segments. Every parse failure names what was wrong
// (the array index and the field) so a client can fix its request; nothing
// here throws.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/event.hpp"
#include "engine/item_model.hpp"

namespace rtrec::http {

/// Why a request was refused: the HTTP status (4xx) and a message naming the
/// field, e.g. "[3].UserId: expected a string".
struct input_error {
  int status = 400;
  std::string message;
};

/// Limits applied to request bodies.
struct input_limits {
  engine::validation_limits ids;    ///< id length, rating range
  std::size_t max_array = 10000;    ///< feedback or items per request
  std::size_t max_depth = 32;       ///< JSON nesting
  std::size_t max_categories = 64;  ///< per item
  /// An item's Labels, as serialized JSON (compact), at most this many bytes.
  /// Labels and Comment are kept in every item shard's memory, and in the
  /// log and snapshots, so they are bounded per item.
  std::size_t max_labels_bytes = 4096;
  std::size_t max_comment_bytes = 1024;    ///< an item's or a feedback's Comment
  std::size_t max_timestamp_bytes = 64;    ///< an item's or a feedback's Timestamp text
};

/// Parses `body` as JSON. Returns nullopt and sets `err` when it is not
/// JSON (malformed_json()), or nests deeper than limits.max_depth.
std::optional<nlohmann::json> parse_json(std::string_view body, const input_limits& limits,
                                         input_error& err);

/// The refusal of a body nlohmann's parser stopped on with `e`: "body:
/// malformed JSON at byte N: ..." for a syntax error (a parse_error, at
/// `byte`), "body: malformed JSON: ..." for the rest (a number beyond
/// double's range, whose position the parser does not report).
std::string malformed_json(const nlohmann::json::exception& e, std::size_t byte);

/// A JSON type as error messages name it: "null", "an object", "an array",
/// "a string", "a boolean", "a number".
const char* json_kind(nlohmann::json::value_t type);

/// One field of a JSON object as the request readers see it: its type
/// (value_t::discarded when the object has no such field) and, for a
/// string, number or boolean, its value. `text` views storage the caller
/// keeps alive (the DOM value, or simdjson's buffer).
struct json_field {
  nlohmann::json::value_t type = nlohmann::json::value_t::discarded;
  std::string_view text;  ///< a string's bytes
  double number = 0.0;    ///< a number's value, as nlohmann's get<double>()
  bool boolean = false;
  /// Missing and null both mean "not given".
  bool present() const noexcept {
    return type != nlohmann::json::value_t::discarded && type != nlohmann::json::value_t::null;
  }
  bool is_string() const noexcept { return type == nlohmann::json::value_t::string; }
  bool is_number() const noexcept {
    return type == nlohmann::json::value_t::number_integer ||
           type == nlohmann::json::value_t::number_unsigned ||
           type == nlohmann::json::value_t::number_float;
  }
};

/// Returns `obj`'s field `name` (obj must be an object); the view lives as
/// long as obj.
json_field field_of(const nlohmann::json& obj, const char* name);

/// The fields of a feedback object that parse_feedback() reads; the others
/// are ignored.
struct feedback_fields {
  json_field type;       ///< "FeedbackType"
  json_field user;       ///< "UserId"
  json_field item;       ///< "ItemId"
  json_field event_id;   ///< "EventId"
  json_field timestamp;  ///< "Timestamp"
  json_field comment;    ///< "Comment"
  json_field value;      ///< "Value"

  /// Returns the field named `key`, or nullptr for a key parse_feedback()
  /// ignores: the one list of the kept names, for every reader.
  json_field* slot(std::string_view key) noexcept;
};

/// Reads a feedback object's fields into `e` (every field set, overwrite
/// left as it is), validating them as parse_feedback() documents; false with
/// `err` naming `where` and the field on the first problem. The one place
/// the feedback fields' rules live: the DOM parsers and the simdjson
/// feedback body parser (feedback_body.hpp) both call it.
bool feedback_from_fields(const feedback_fields& fields, const std::string& where,
                          std::int64_t now_ms, const input_limits& limits, bool require_user,
                          engine::event& e, input_error& err);

/// Parses a Gorse feedback array: objects with "FeedbackType", "UserId",
/// "ItemId" (strings), optional "Value" (number), "Timestamp" (RFC 3339
/// string, kept as given in timestamp_text, or Unix seconds; default
/// `now_ms`, also for "" and the zero time "0001-01-01T00:00:00Z" that
/// Gorse's Go and .NET clients send for "none"), "EventId" (string, "" =
/// none) and "Comment" (a string of at most limits.max_comment_bytes); other
/// fields ("Labels", "Updated", ...) are ignored. The events' overwrite flag
/// is left false. `require_user` = false allows a missing, null or ""
/// UserId (session feedback). Every event is validated; on the first problem
/// returns nullopt with `err` naming the index and field (nothing is kept).
std::optional<std::vector<engine::event>>
parse_feedback(const nlohmann::json& body, std::int64_t now_ms, const input_limits& limits,
               bool require_user, input_error& err);

/// Parses one feedback object of such an array; `where` names it in errors
/// ("[3]", "line 7").
std::optional<engine::event> parse_feedback_object(const nlohmann::json& x,
                                                  const std::string& where, std::int64_t now_ms,
                                                  const input_limits& limits, bool require_user,
                                                  input_error& err);

/// Parses a Gorse item object: "ItemId" (string), optional "IsHidden"
/// (bool), "Categories" (array of strings), "Timestamp" (default `now_ms`;
/// a string is also kept as given, to be answered back), "Labels" (any JSON
/// value but null, kept serialized) and "Comment" (string), each within
/// `limits`. `where` prefixes error messages.
std::optional<engine::item_meta> parse_item(const nlohmann::json& x, std::int64_t now_ms,
                                            const input_limits& limits, const std::string& where,
                                            input_error& err);

/// The fields a PATCH may change; unset fields stay as they are.
struct item_patch {
  std::optional<bool> hidden;
  std::optional<std::vector<std::string>> categories;
  std::optional<std::int64_t> timestamp;
  std::string timestamp_text;  ///< with timestamp: the string given, if one was
  std::optional<std::string> labels;  ///< serialized JSON
  std::optional<std::string> comment;
};

/// Parses a PATCH body (an object with at least one of "IsHidden",
/// "Categories", "Timestamp", "Labels", "Comment"; null means unchanged).
std::optional<item_patch> parse_item_patch(const nlohmann::json& x, const input_limits& limits,
                                           input_error& err);

/// Parses an RFC 3339 time ("2024-05-01T12:30:00Z", fractional seconds and
/// "+02:00" offsets allowed, a space instead of 'T' too, 't' and 'z' in lower
/// case, no offset or a bare date means UTC) into milliseconds since the Unix
/// epoch, fractions truncated; nullopt if invalid or before 1970. A leap
/// second (":60") is the next minute's ":00" (absl::ParseTime's rule).
std::optional<std::int64_t> parse_timestamp(std::string_view s);

/// Formats milliseconds since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ".
std::string format_timestamp(std::int64_t ms);

/// Parses a Go duration (Go's time.ParseDuration, the format of Gorse's
/// write-back-delay): an optional sign, then "0" or one or more decimal
/// numbers each with a unit ns, us, µs, ms, s, m or h ("10m", "1h30m",
/// "1.5s", "-2h", "0h0m0s"). Returns milliseconds, truncated toward zero;
/// nullopt for anything else or a duration beyond Go's range (about 292
/// years).
std::optional<std::int64_t> parse_duration_ms(std::string_view s);

/// Decodes %XX escapes (and nothing else: '+' stays '+'). Nullopt for a
/// malformed escape.
std::optional<std::string> percent_decode(std::string_view s);

/// Returns nullopt when `id` is a usable id, else why not ("is empty",
/// "contains '/' or a control character", "is longer than 256 bytes").
std::optional<std::string> id_problem(std::string_view id, std::size_t max_length);

/// The JSON array of the recommendations' item ids, exactly as nlohmann's
/// compact dump with invalid UTF-8 replaced writes it (what every answer
/// body uses): directly when every id is printable ASCII with nothing to
/// escape (no '"' or '\\'), the usual case, through nlohmann otherwise.
std::string item_id_array(const std::vector<engine::recommendation>& recs);

}  // namespace rtrec::http
