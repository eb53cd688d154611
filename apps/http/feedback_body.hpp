// A feedback request body parsed straight into events: simdjson reads the
// body and each feedback object's fields go to feedback_from_fields() as
// views into its buffer, with no nlohmann document tree in between (the
// tree cost one allocation per object, field and string, and nlohmann's
// parser about half the server's instructions per event). Same answers as
// parse_json() + parse_feedback(), to the error message
// (tests/http/feedback_body_test.cpp checks both on random bodies).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "apps/http/json_io.hpp"
#include "engine/event.hpp"

namespace rtrec::http {

/// What a refused body was, for the invalid-events counter.
struct feedback_body_shape {
  /// False when the body is not JSON (malformed, or nested deeper than
  /// limits.max_depth): parse_json() would have refused it.
  bool json = false;
  /// The top-level value is an array, of `elements` values.
  bool array = false;
  std::size_t elements = 0;
  /// simdjson refused the body, and parse_json() + parse_feedback() gave
  /// the answer.
  bool exact = false;
};

/// Parses a Gorse feedback array body, as parse_json() then
/// parse_feedback() would, with the same events or the same error (message
/// and status): malformed JSON or the nesting limit first, then a body that
/// is not an array, then more than limits.max_array elements (413), then the
/// first invalid element. `shape` (optional) tells what the body was.
std::optional<std::vector<engine::event>>
parse_feedback_body(std::string_view body, std::int64_t now_ms, const input_limits& limits,
                    bool require_user, input_error& err, feedback_body_shape* shape = nullptr);

}  // namespace rtrec::http
