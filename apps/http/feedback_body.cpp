// parse_feedback_body(): simdjson (Debian's libsimdjson-dev) parses the
// body into its tape, in one pass that also checks the JSON and its UTF-8;
// each element of the top-level array is then read field by field into
// feedback_from_fields(), every string a view into the parser's buffer, so
// a body costs no allocation but its events. simdjson refuses some JSON that
// nlohmann takes (integers beyond 64 bits; objects count double against its
// depth bound) and names no position in its errors, so a body it refuses
// goes through the exact path, parse_json() + parse_feedback(), whose answer
// (a parse, or its error message) is then the answer.
#include "apps/http/feedback_body.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <string>

namespace rtrec::http {

using nlohmann::json;

namespace {

// Bodies up to this size reuse one parser per thread: its buffers grow to
// the largest such body and stay (about 13 bytes per byte of body: the
// tape, the structural indexes, the strings), so at most ~3.3 MiB per HTTP
// thread. Larger bodies (up to 10,000 feedback, ~600 KiB) get a parser of
// their own, freed with the request.
constexpr std::size_t reused_parser_bytes = std::size_t{256} << 10;

json::value_t type_of(simdjson::dom::element_type t) {
  using simdjson::dom::element_type;
  switch (t) {
    case element_type::ARRAY: return json::value_t::array;
    case element_type::OBJECT: return json::value_t::object;
    case element_type::INT64: return json::value_t::number_integer;
    case element_type::UINT64: return json::value_t::number_unsigned;
    case element_type::DOUBLE: return json::value_t::number_float;
    case element_type::STRING: return json::value_t::string;
    case element_type::BOOL: return json::value_t::boolean;
    case element_type::NULL_VALUE: return json::value_t::null;
  }
  return json::value_t::discarded;
}

json_field field_from(simdjson::dom::element x) {
  json_field f;
  f.type = type_of(x.type());
  switch (x.type()) {
    case simdjson::dom::element_type::STRING: f.text = x.get_string().value_unsafe(); break;
    case simdjson::dom::element_type::INT64:
      f.number = static_cast<double>(x.get_int64().value_unsafe());
      break;
    case simdjson::dom::element_type::UINT64:
      f.number = static_cast<double>(x.get_uint64().value_unsafe());
      break;
    case simdjson::dom::element_type::DOUBLE: f.number = x.get_double().value_unsafe(); break;
    case simdjson::dom::element_type::BOOL: f.boolean = x.get_bool().value_unsafe(); break;
    default: break;
  }
  return f;
}

// The events of a body simdjson parsed into `doc`, in parse_feedback()'s
// order of checks.
std::optional<std::vector<engine::event>>
read_feedback(simdjson::dom::element doc, std::int64_t now_ms, const input_limits& limits,
              bool require_user, input_error& err, feedback_body_shape& shape) {
  shape.json = true;
  simdjson::dom::array elements;
  if (doc.get_array().get(elements) != simdjson::SUCCESS) {
    err = {400, fmt::format("body: expected a JSON array of feedback objects, got {}",
                            json_kind(type_of(doc.type())))};
    return std::nullopt;
  }
  shape.array = true;
  shape.elements = elements.size();  // exact below 2^24 elements, else 2^24 - 1
  if (shape.elements > limits.max_array) {
    if (shape.elements == 0xFFFFFF) {  // saturated: count them
      shape.elements = 0;
      for ([[maybe_unused]] auto x : elements)
        ++shape.elements;
    }
    err = {413, fmt::format("body: at most {} feedback per request, got {}", limits.max_array,
                            shape.elements)};
    return std::nullopt;
  }
  std::vector<engine::event> out;
  out.reserve(shape.elements);
  std::string where;
  std::size_t k = 0;
  for (simdjson::dom::element x : elements) {
    // "[k]", written into one buffer for the whole body.
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, k++).ptr;
    where.assign(1, '[').append(digits, end).push_back(']');
    simdjson::dom::object fields;
    if (x.get_object().get(fields) != simdjson::SUCCESS) {
      err = {400, fmt::format("{}: expected a feedback object, got {}", where,
                              json_kind(type_of(x.type())))};
      return std::nullopt;
    }
    feedback_fields f;
    for (auto [key, value] : fields)
      if (json_field* slot = f.slot(key))
        *slot = field_from(value);  // the last of duplicate keys wins, as in nlohmann
    engine::event e;
    if (!feedback_from_fields(f, where, now_ms, limits, require_user, e, err))
      return std::nullopt;
    out.push_back(std::move(e));
  }
  return out;
}

// The exact path, for the bodies simdjson refuses.
std::optional<std::vector<engine::event>>
parse_exactly(std::string_view body, std::int64_t now_ms, const input_limits& limits,
              bool require_user, input_error& err, feedback_body_shape& shape) {
  shape.exact = true;
  auto doc = parse_json(body, limits, err);
  if (!doc)
    return std::nullopt;
  shape.json = true;
  shape.array = doc->is_array();
  shape.elements = shape.array ? doc->size() : 0;
  return parse_feedback(*doc, now_ms, limits, require_user, err);
}

}  // namespace

std::optional<std::vector<engine::event>>
parse_feedback_body(std::string_view body, std::int64_t now_ms, const input_limits& limits,
                    bool require_user, input_error& err, feedback_body_shape* shape) {
  feedback_body_shape local;
  feedback_body_shape& s = shape != nullptr ? *shape : local;
  s = {};
  thread_local simdjson::dom::parser reused;
  simdjson::dom::parser own;
  simdjson::dom::parser& parser = body.size() <= reused_parser_bytes ? reused : own;
  // simdjson counts an object twice against its bound where parse_json()
  // counts it once: with the bound at limits.max_depth it refuses whatever
  // parse_json() refuses for depth (and some bodies parse_json() takes,
  // which then take the exact path).
  if (parser.max_depth() != limits.max_depth || parser.capacity() < body.size()) {
    if (parser.allocate(std::max(body.size(), parser.capacity()), limits.max_depth) !=
        simdjson::SUCCESS)
      return parse_exactly(body, now_ms, limits, require_user, err, s);
  }
  simdjson::dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS)
    return parse_exactly(body, now_ms, limits, require_user, err, s);
  return read_feedback(doc, now_ms, limits, require_user, err, s);
}

}  // namespace rtrec::http
