// Parsing and writing of the API's wire formats: the feedback and item
// bodies (field by field, every error naming its field), RFC 3339 times
// (absl::ParseTime/FormatTime behind a check of the accepted shape), percent
// decoding, and the JSON parse itself with its nesting limit (enforced by
// nlohmann's parser callback while it parses).
#include "apps/http/json_io.hpp"

#include <absl/strings/ascii.h>
#include <absl/time/time.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace rtrec::http {

using nlohmann::json;

namespace {

const char* kind(const json& x) { return json_kind(x.type()); }

const char* kind(const json_field& f) { return json_kind(f.type); }

bool fail(input_error& err, std::string message, int status = 400) {
  err.status = status;
  err.message = std::move(message);
  return false;
}

// Reads a required or optional id field (string, valid id).
bool read_id(const json_field& v, const char* field, const std::string& where, bool required,
             std::size_t max_length, std::string& out, input_error& err) {
  if (!v.present()) {
    if (required)
      return fail(err, fmt::format("{}.{}: missing (a string is required)", where, field));
    return true;
  }
  if (!v.is_string())
    return fail(err, fmt::format("{}.{}: expected a string, got {}", where, field, kind(v)));
  if (!required && v.text.empty())
    return true;  // "" where an id is optional: clients with typed structs send it for "none"
  out.assign(v.text);
  if (auto p = id_problem(out, max_length))
    return fail(err, fmt::format("{}.{}: {}", where, field, *p));
  return true;
}

// True for the zero time of Go's time.Time ("0001-01-01T00:00:00Z") and of
// .NET's DateTime/DateTimeOffset ("0001-01-01T00:00:00[+00:00]"): what Gorse
// clients with typed structs send when the caller set no time.
bool is_zero_time(std::string_view s) {
  constexpr std::string_view zero = "0001-01-01T00:00:00";
  if (s.substr(0, zero.size()) != zero)
    return false;
  s.remove_prefix(zero.size());
  return s.empty() || s == "Z" || s == "+00:00";
}

// Reads an optional "Timestamp": RFC 3339 string or Unix seconds. A string
// given (at most `max_text` bytes) goes to `text` as it is, when `text` is
// not null.
bool read_timestamp(const json_field& v, const std::string& where, std::int64_t fallback,
                    std::int64_t& out, input_error& err, std::string* text = nullptr,
                    std::size_t max_text = 64) {
  out = fallback;
  if (!v.present())
    return true;
  if (v.is_string()) {
    const std::string_view s = v.text;
    if (s.empty() || is_zero_time(s))
      return true;
    if (s.size() > max_text)
      return fail(err, fmt::format("{}.Timestamp: longer than {} bytes", where, max_text));
    if (text != nullptr)
      text->assign(s);
    auto ts = parse_timestamp(s);
    if (!ts)
      return fail(err, fmt::format("{}.Timestamp: \"{}\" is not an RFC 3339 time such as "
                                   "2024-05-01T12:30:00Z",
                                   where, s.substr(0, 64)));
    out = *ts;
    return true;
  }
  if (v.is_number()) {
    const double s = v.number;
    if (!std::isfinite(s) || s < 0 || s > 253402300799.0)
      return fail(err, fmt::format("{}.Timestamp: {} is not a Unix time in seconds between 0 "
                                   "and year 9999",
                                   where, s));
    out = static_cast<std::int64_t>(std::llround(s * 1000.0));
    return true;
  }
  return fail(err, fmt::format("{}.Timestamp: expected an RFC 3339 string or Unix seconds, got {}",
                               where, kind(v)));
}

bool read_categories(const json& obj, const std::string& where, const input_limits& limits,
                     std::vector<std::string>& out, input_error& err) {
  auto it = obj.find("Categories");
  if (it == obj.end() || it->is_null())
    return true;
  if (!it->is_array())
    return fail(err, fmt::format("{}.Categories: expected an array of strings, got {}", where,
                                 kind(*it)));
  if (it->size() > limits.max_categories)
    return fail(err, fmt::format("{}.Categories: at most {} categories per item", where,
                                 limits.max_categories));
  out.clear();
  for (std::size_t k = 0; k < it->size(); ++k) {
    const auto& c = (*it)[k];
    if (!c.is_string())
      return fail(err, fmt::format("{}.Categories[{}]: expected a string, got {}", where, k,
                                   kind(c)));
    out.push_back(c.get<std::string>());
    if (auto p = id_problem(out.back(), limits.ids.max_id_length))
      return fail(err, fmt::format("{}.Categories[{}]: {}", where, k, *p));
  }
  return true;
}

bool read_hidden(const json& obj, const std::string& where, std::optional<bool>& out,
                 input_error& err) {
  auto it = obj.find("IsHidden");
  if (it == obj.end() || it->is_null())
    return true;
  if (!it->is_boolean())
    return fail(err, fmt::format("{}.IsHidden: expected true or false, got {}", where, kind(*it)));
  out = it->get<bool>();
  return true;
}

// Reads an optional "Comment" (a string of at most limits.max_comment_bytes);
// `out` stays unset when it is missing or null.
bool read_comment(const json_field& v, const std::string& where, const input_limits& limits,
                  std::optional<std::string>& out, input_error& err) {
  if (!v.present())
    return true;
  if (!v.is_string())
    return fail(err, fmt::format("{}.Comment: expected a string, got {}", where, kind(v)));
  if (v.text.size() > limits.max_comment_bytes)
    return fail(err, fmt::format("{}.Comment: longer than {} bytes", where,
                                 limits.max_comment_bytes));
  out.emplace(v.text);
  return true;
}

// Reads optional "Labels" (any JSON value; serialized compactly, at most
// limits.max_labels_bytes); `out` stays unset when missing or null.
bool read_labels(const json& obj, const std::string& where, const input_limits& limits,
                 std::optional<std::string>& out, input_error& err) {
  auto it = obj.find("Labels");
  if (it == obj.end() || it->is_null())
    return true;
  auto text = it->dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > limits.max_labels_bytes)
    return fail(err, fmt::format("{}.Labels: longer than {} bytes as JSON", where,
                                 limits.max_labels_bytes));
  out = std::move(text);
  return true;
}

// True if `s` has the shape of `pattern`, where 'd' stands for any ASCII
// digit and every other character for itself.
bool shaped(std::string_view s, std::string_view pattern) {
  return s.size() == pattern.size() &&
         std::equal(s.begin(), s.end(), pattern.begin(), [](char c, char p) {
           return p == 'd' ? absl::ascii_isdigit(static_cast<unsigned char>(c)) : c == p;
         });
}

// Reads an optional "Value" (a number) into e.value; a rating needs one.
bool read_value(const json_field& v, const std::string& where, engine::event& e,
                input_error& err) {
  if (v.present()) {
    if (!v.is_number())
      return fail(err, fmt::format("{}.Value: expected a number, got {}", where, kind(v)));
    e.value = v.number;
  } else if (e.type == engine::event_type::rating) {
    return fail(err, where + ".Value: missing (a rating needs a value)");
  }
  return true;
}

// Thrown by the parser callback at the first array or object past the limit.
struct too_deep {};

}  // namespace

const char* json_kind(json::value_t t) {
  switch (t) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: return "a number";
    default: return "something else";
  }
}

std::optional<json> parse_json(std::string_view body, const input_limits& limits,
                               input_error& err) {
  // `depth` counts the arrays and objects already open around the one that
  // starts: the top-level one starts at 0. Throwing stops the parse there, so
  // a deep body costs no more than max_depth levels.
  const json::parser_callback_t limit_depth = [&limits](int depth, json::parse_event_t event,
                                                        json&) {
    if ((event == json::parse_event_t::array_start ||
         event == json::parse_event_t::object_start) &&
        static_cast<std::size_t>(depth) >= limits.max_depth)
      throw too_deep{};
    return true;
  };
  try {
    return json::parse(body.begin(), body.end(), limit_depth);
  } catch (const too_deep&) {
    fail(err, fmt::format("body: JSON nested deeper than {} levels", limits.max_depth));
    return std::nullopt;
  } catch (const json::parse_error& e) {
    fail(err, malformed_json(e, e.byte));
    return std::nullopt;
  } catch (const json::exception& e) {  // a number beyond double's range (out_of_range 406)
    fail(err, malformed_json(e, 0));
    return std::nullopt;
  }
}

std::string malformed_json(const json::exception& e, std::size_t byte) {
  const std::string what = std::string{e.what()}.substr(0, 200);
  if (dynamic_cast<const json::parse_error*>(&e) != nullptr)
    return fmt::format("body: malformed JSON at byte {}: {}", byte, what);
  return fmt::format("body: malformed JSON: {}", what);
}

namespace {

// `v` as the field readers see it.
json_field field_value(const json& v) {
  json_field f;
  f.type = v.type();
  if (v.is_string())
    f.text = v.get_ref<const std::string&>();
  else if (v.is_number())
    f.number = v.get<double>();
  else if (v.is_boolean())
    f.boolean = v.get<bool>();
  return f;
}

// The kept fields of feedback object `x` (the last of duplicate keys, as
// nlohmann keeps it).
feedback_fields feedback_fields_of(const json& x) {
  feedback_fields f;
  for (auto it = x.begin(); it != x.end(); ++it)
    if (json_field* slot = f.slot(it.key()))
      *slot = field_value(*it);
  return f;
}

}  // namespace

json_field field_of(const json& obj, const char* name) {
  auto it = obj.find(name);
  return it == obj.end() ? json_field{} : field_value(*it);
}

json_field* feedback_fields::slot(std::string_view key) noexcept {
  if (key == "FeedbackType") return &type;
  if (key == "UserId") return &user;
  if (key == "ItemId") return &item;
  if (key == "EventId") return &event_id;
  if (key == "Timestamp") return &timestamp;
  if (key == "Comment") return &comment;
  if (key == "Value") return &value;
  return nullptr;
}

bool feedback_from_fields(const feedback_fields& x, const std::string& where, std::int64_t now_ms,
                          const input_limits& limits, bool require_user, engine::event& e,
                          input_error& err) {
  if (!x.type.present())
    return fail(err, where + ".FeedbackType: missing (a string is required)");
  if (!x.type.is_string())
    return fail(err, fmt::format("{}.FeedbackType: expected a string, got {}", where,
                                 kind(x.type)));
  auto t = engine::parse_event_type(x.type.text);
  if (!t)
    return fail(err, fmt::format("{}.FeedbackType: unknown type \"{}\" (expected view, click, "
                                 "like, rating, purchase or dislike)",
                                 where, x.type.text.substr(0, 64)));
  e.type = *t;
  std::optional<std::string> comment;
  if (!read_id(x.user, "UserId", where, require_user, limits.ids.max_id_length, e.user, err) ||
      !read_id(x.item, "ItemId", where, true, limits.ids.max_id_length, e.item, err) ||
      !read_id(x.event_id, "EventId", where, false, limits.ids.max_id_length, e.id, err) ||
      !read_timestamp(x.timestamp, where, now_ms, e.timestamp, err, &e.timestamp_text,
                      limits.max_timestamp_bytes) ||
      !read_comment(x.comment, where, limits, comment, err) || !read_value(x.value, where, e, err))
    return false;
  if (comment)
    e.comment = std::move(*comment);
  if (e.user.empty())
    e.user = "session";
  if (auto r = engine::validate(e, limits.ids); r != engine::reject_reason::none) {
    if (r == engine::reject_reason::bad_value)
      return fail(err, fmt::format("{}.Value: {} is outside [{}, {}]", where, e.value,
                                   limits.ids.min_rating, limits.ids.max_rating));
    return fail(err, fmt::format("{}: {}", where, engine::to_string(r)));
  }
  return true;
}

std::optional<engine::event> parse_feedback_object(const json& x, const std::string& where,
                                                  std::int64_t now_ms, const input_limits& limits,
                                                  bool require_user, input_error& err) {
  if (!x.is_object()) {
    fail(err, fmt::format("{}: expected a feedback object, got {}", where, kind(x)));
    return std::nullopt;
  }
  engine::event e;
  if (!feedback_from_fields(feedback_fields_of(x), where, now_ms, limits, require_user, e, err))
    return std::nullopt;
  return e;
}

std::optional<std::vector<engine::event>>
parse_feedback(const json& body, std::int64_t now_ms, const input_limits& limits,
               bool require_user, input_error& err) {
  if (!body.is_array()) {
    fail(err, fmt::format("body: expected a JSON array of feedback objects, got {}", kind(body)));
    return std::nullopt;
  }
  if (body.size() > limits.max_array) {
    fail(err, fmt::format("body: at most {} feedback per request, got {}", limits.max_array,
                          body.size()),
         413);
    return std::nullopt;
  }
  std::vector<engine::event> out;
  out.reserve(body.size());
  for (std::size_t k = 0; k < body.size(); ++k) {
    auto e = parse_feedback_object(body[k], fmt::format("[{}]", k), now_ms, limits, require_user,
                                   err);
    if (!e)
      return std::nullopt;
    out.push_back(std::move(*e));
  }
  return out;
}

std::optional<engine::item_meta> parse_item(const json& x, std::int64_t now_ms,
                                            const input_limits& limits, const std::string& where,
                                            input_error& err) {
  if (!x.is_object()) {
    fail(err, fmt::format("{}: expected an item object, got {}", where, kind(x)));
    return std::nullopt;
  }
  engine::item_meta meta;
  std::optional<bool> hidden;
  std::optional<std::string> labels, comment;
  if (!read_id(field_of(x, "ItemId"), "ItemId", where, true, limits.ids.max_id_length, meta.id,
               err) ||
      !read_hidden(x, where, hidden, err) ||
      !read_categories(x, where, limits, meta.categories, err) ||
      !read_timestamp(field_of(x, "Timestamp"), where, now_ms, meta.timestamp, err,
                      &meta.timestamp_text, limits.max_timestamp_bytes) ||
      !read_labels(x, where, limits, labels, err) ||
      !read_comment(field_of(x, "Comment"), where, limits, comment, err))
    return std::nullopt;
  meta.hidden = hidden.value_or(false);
  meta.labels = labels.value_or(std::string{});
  meta.comment = comment.value_or(std::string{});
  return meta;
}

std::optional<item_patch> parse_item_patch(const json& x, const input_limits& limits,
                                           input_error& err) {
  if (!x.is_object()) {
    fail(err, fmt::format("body: expected an object, got {}", kind(x)));
    return std::nullopt;
  }
  item_patch p;
  if (!read_hidden(x, "body", p.hidden, err))
    return std::nullopt;
  if (x.contains("Categories") && !x["Categories"].is_null()) {
    std::vector<std::string> cats;
    if (!read_categories(x, "body", limits, cats, err))
      return std::nullopt;
    p.categories = std::move(cats);
  }
  if (x.contains("Timestamp") && !x["Timestamp"].is_null()) {
    std::int64_t ts = 0;
    if (!read_timestamp(field_of(x, "Timestamp"), "body", 0, ts, err, &p.timestamp_text,
                        limits.max_timestamp_bytes))
      return std::nullopt;
    if (ts > 0)
      p.timestamp = ts;
  }
  if (!read_labels(x, "body", limits, p.labels, err) ||
      !read_comment(field_of(x, "Comment"), "body", limits, p.comment, err))
    return std::nullopt;
  if (!p.hidden && !p.categories && !p.timestamp && !p.labels && !p.comment) {
    fail(err, "body: nothing to change (give IsHidden, Categories, Timestamp, Labels or "
              "Comment)");
    return std::nullopt;
  }
  return p;
}

std::optional<std::int64_t> parse_timestamp(std::string_view s) {
  // absl::ParseTime also takes one-digit fields, surrounding spaces, more
  // year digits and "+02"/"+0200" offsets; the accepted inputs stay exactly
  // "YYYY-MM-DD" or "YYYY-MM-DD[Tt ]hh:mm:ss[.f+][Zz|(+|-)hh:mm]".
  if (!shaped(s.substr(0, 10), "dddd-dd-dd"))
    return std::nullopt;
  std::string format = "%Y-%m-%d";
  if (s.size() > 10) {
    const char sep = s[10];
    if ((sep != 'T' && sep != 't' && sep != ' ') || !shaped(s.substr(11, 8), "dd:dd:dd"))
      return std::nullopt;
    format += sep == ' ' ? " %H:%M:%E*S" : "%ET%H:%M:%E*S";  // %ET: 'T' or 't'
    auto rest = s.substr(19);
    if (!rest.empty() && rest[0] == '.') {
      std::size_t n = 1;
      while (n < rest.size() && absl::ascii_isdigit(static_cast<unsigned char>(rest[n])))
        ++n;
      if (n == 1)
        return std::nullopt;
      rest.remove_prefix(n);
    }
    if (!rest.empty()) {
      if (rest != "Z" && rest != "z" && !shaped(rest, "+dd:dd") && !shaped(rest, "-dd:dd"))
        return std::nullopt;
      format += "%Ez";  // RFC 3339's offset; none means UTC
    }
  }
  absl::Time t;
  std::string why;
  if (!absl::ParseTime(format, absl::string_view{s.data(), s.size()}, absl::UTCTimeZone(), &t,
                       &why))
    return std::nullopt;  // a field out of range (month 13, April 31, hour 25...)
  const std::int64_t ms = absl::ToUnixMillis(t);
  return ms >= 0 ? std::optional<std::int64_t>{ms} : std::nullopt;
}

std::string format_timestamp(std::int64_t ms) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E3SZ", absl::FromUnixMillis(ms),
                          absl::UTCTimeZone());
}

namespace {

// Nanoseconds per unit of a Go duration, or 0 for an unknown unit.
std::int64_t duration_unit_ns(std::string_view unit) {
  if (unit == "ns")
    return 1;
  if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs")  // µ (micro sign), μ (mu)
    return 1000;
  if (unit == "ms")
    return 1000000;
  if (unit == "s")
    return 1000000000;
  if (unit == "m")
    return 60000000000;
  if (unit == "h")
    return 3600000000000;
  return 0;
}

bool is_digit(char c) {
  return absl::ascii_isdigit(static_cast<unsigned char>(c));
}

// Reads one "<number><unit>" off the front of `s` and adds it to `total_ns`
// (integer arithmetic, as Go does). False when malformed or out of range.
bool add_duration_term(std::string_view& s, __int128& total_ns) {
  constexpr __int128 limit = (static_cast<__int128>(1) << 63) - 1;  // Go's int64 nanoseconds
  __int128 whole = 0, frac = 0, scale = 1;
  bool digits = false, fraction = false;
  std::size_t k = 0;
  for (; k < s.size() && (is_digit(s[k]) || (s[k] == '.' && !fraction)); ++k) {
    if (s[k] == '.') {
      fraction = true;
      continue;
    }
    digits = true;
    if (!fraction && (whole = whole * 10 + (s[k] - '0')) > limit)
      return false;
    if (fraction && scale < 1000000000000000000)  // further digits are below 1 ns
      frac = frac * 10 + (s[k] - '0'), scale *= 10;
  }
  std::size_t u = k;
  while (u < s.size() && s[u] != '.' && !is_digit(s[u]))
    ++u;
  const auto unit = duration_unit_ns(s.substr(k, u - k));
  if (!digits || unit == 0)
    return false;
  total_ns += whole * unit + frac * unit / scale;
  s.remove_prefix(u);
  return total_ns <= limit;
}

}  // namespace

std::optional<std::int64_t> parse_duration_ms(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0")
    return 0;
  if (s.empty())
    return std::nullopt;
  __int128 total_ns = 0;
  while (!s.empty())
    if (!add_duration_term(s, total_ns))
      return std::nullopt;
  const auto ms = static_cast<std::int64_t>(total_ns / 1000000);
  return negative ? -ms : ms;
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  };
  for (std::size_t k = 0; k < s.size(); ++k) {
    if (s[k] != '%') {
      out += s[k];
      continue;
    }
    if (k + 2 >= s.size())
      return std::nullopt;
    const int hi = hex(s[k + 1]), lo = hex(s[k + 2]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    k += 2;
  }
  return out;
}

std::optional<std::string> id_problem(std::string_view id, std::size_t max_length) {
  if (id.empty())
    return std::string{"is empty"};
  switch (engine::validate_id(id, max_length)) {
    case engine::reject_reason::none: return std::nullopt;
    case engine::reject_reason::id_too_long:
      return fmt::format("is longer than {} bytes", max_length);
    default: return std::string{"contains '/' or a control character"};
  }
}

std::string item_id_array(const std::vector<engine::recommendation>& recs) {
  // What nlohmann would escape or replace: control characters, '"', '\\',
  // and every byte beyond ASCII (valid UTF-8 is kept, invalid replaced).
  auto plain = [](std::string_view id) {
    return std::all_of(id.begin(), id.end(), [](char ch) {
      const auto c = static_cast<unsigned char>(ch);
      return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\';
    });
  };
  std::size_t bytes = 2;
  for (const auto& r : recs) {
    if (!plain(r.item)) {
      json ids = json::array();
      for (const auto& x : recs)
        ids.push_back(x.item);
      return ids.dump(-1, ' ', false, json::error_handler_t::replace);
    }
    bytes += r.item.size() + 3;
  }
  std::string out;
  out.reserve(bytes);
  out += '[';
  for (std::size_t k = 0; k < recs.size(); ++k) {
    if (k > 0)
      out += ',';
    out += '"';
    out += recs[k].item;
    out += '"';
  }
  out += ']';
  return out;
}

}  // namespace rtrec::http
