#include "apps/http/json_io.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>

namespace rtrec::http {

using nlohmann::json;

namespace {

// Deepest nesting of arrays and objects in `body`, counted outside strings;
// stops early once `limit` is passed (the parser then never sees it).
std::size_t nesting(std::string_view body, std::size_t limit) {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit)
        return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

const char* kind(const json& x) {
  switch (x.type()) {
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

bool fail(input_error& err, std::string message, int status = 400) {
  err.status = status;
  err.message = std::move(message);
  return false;
}

// Reads a required or optional id field (string, valid id).
bool read_id(const json& obj, const char* field, const std::string& where, bool required,
             std::size_t max_length, std::string& out, input_error& err) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) {
    if (required)
      return fail(err, fmt::format("{}.{}: missing (a string is required)", where, field));
    return true;
  }
  if (!it->is_string())
    return fail(err, fmt::format("{}.{}: expected a string, got {}", where, field, kind(*it)));
  out = it->get<std::string>();
  if (auto p = id_problem(out, max_length))
    return fail(err, fmt::format("{}.{}: {}", where, field, *p));
  return true;
}

// Reads an optional "Timestamp": RFC 3339 string or Unix seconds.
bool read_timestamp(const json& obj, const std::string& where, std::int64_t fallback,
                    std::int64_t& out, input_error& err) {
  auto it = obj.find("Timestamp");
  out = fallback;
  if (it == obj.end() || it->is_null())
    return true;
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    if (s.empty())
      return true;
    auto ts = parse_timestamp(s);
    if (!ts)
      return fail(err, fmt::format("{}.Timestamp: \"{}\" is not an RFC 3339 time such as "
                                   "2024-05-01T12:30:00Z",
                                   where, s.substr(0, 64)));
    out = *ts;
    return true;
  }
  if (it->is_number() && !it->is_boolean()) {
    const double s = it->get<double>();
    if (!std::isfinite(s) || s < 0 || s > 253402300799.0)
      return fail(err, fmt::format("{}.Timestamp: {} is not a Unix time in seconds between 0 "
                                   "and year 9999",
                                   where, s));
    out = static_cast<std::int64_t>(std::llround(s * 1000.0));
    return true;
  }
  return fail(err, fmt::format("{}.Timestamp: expected an RFC 3339 string or Unix seconds, got {}",
                               where, kind(*it)));
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

bool ignored_string(const json& obj, const char* field, const std::string& where,
                    input_error& err) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null() || it->is_string())
    return true;
  return fail(err, fmt::format("{}.{}: expected a string, got {}", where, field, kind(*it)));
}

// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

bool digits(std::string_view s, std::size_t pos, std::size_t n, unsigned& out) {
  if (pos + n > s.size())
    return false;
  out = 0;
  for (std::size_t k = pos; k < pos + n; ++k) {
    if (s[k] < '0' || s[k] > '9')
      return false;
    out = out * 10 + static_cast<unsigned>(s[k] - '0');
  }
  return true;
}

}  // namespace

std::optional<json> parse_json(std::string_view body, const input_limits& limits,
                               input_error& err) {
  if (nesting(body, limits.max_depth) > limits.max_depth) {
    fail(err, fmt::format("body: JSON nested deeper than {} levels", limits.max_depth));
    return std::nullopt;
  }
  try {
    return json::parse(body.begin(), body.end());
  } catch (const json::parse_error& e) {
    fail(err, fmt::format("body: malformed JSON at byte {}: {}", e.byte,
                          std::string{e.what()}.substr(0, 200)));
    return std::nullopt;
  }
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
    const auto& x = body[k];
    const auto where = fmt::format("[{}]", k);
    if (!x.is_object()) {
      fail(err, fmt::format("{}: expected a feedback object, got {}", where, kind(x)));
      return std::nullopt;
    }
    engine::event e;
    auto type = x.find("FeedbackType");
    if (type == x.end() || type->is_null()) {
      fail(err, where + ".FeedbackType: missing (a string is required)");
      return std::nullopt;
    }
    if (!type->is_string()) {
      fail(err, fmt::format("{}.FeedbackType: expected a string, got {}", where, kind(*type)));
      return std::nullopt;
    }
    auto t = engine::parse_event_type(type->get_ref<const std::string&>());
    if (!t) {
      fail(err, fmt::format("{}.FeedbackType: unknown type \"{}\" (expected view, click, like, "
                            "rating, purchase or dislike)",
                            where, type->get_ref<const std::string&>().substr(0, 64)));
      return std::nullopt;
    }
    e.type = *t;
    if (!read_id(x, "UserId", where, require_user, limits.ids.max_id_length, e.user, err) ||
        !read_id(x, "ItemId", where, true, limits.ids.max_id_length, e.item, err) ||
        !read_id(x, "EventId", where, false, limits.ids.max_id_length, e.id, err) ||
        !read_timestamp(x, where, now_ms, e.timestamp, err) ||
        !ignored_string(x, "Comment", where, err))
      return std::nullopt;
    auto value = x.find("Value");
    if (value != x.end() && !value->is_null()) {
      if (!value->is_number() || value->is_boolean()) {
        fail(err, fmt::format("{}.Value: expected a number, got {}", where, kind(*value)));
        return std::nullopt;
      }
      e.value = value->get<double>();
    } else if (e.type == engine::event_type::rating) {
      fail(err, where + ".Value: missing (a rating needs a value)");
      return std::nullopt;
    }
    if (e.user.empty())
      e.user = "session";
    if (auto r = engine::validate(e, limits.ids); r != engine::reject_reason::none) {
      if (r == engine::reject_reason::bad_value)
        fail(err, fmt::format("{}.Value: {} is outside [{}, {}]", where, e.value,
                              limits.ids.min_rating, limits.ids.max_rating));
      else
        fail(err, fmt::format("{}: {}", where, engine::to_string(r)));
      return std::nullopt;
    }
    out.push_back(std::move(e));
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
  if (!read_id(x, "ItemId", where, true, limits.ids.max_id_length, meta.id, err) ||
      !read_hidden(x, where, hidden, err) ||
      !read_categories(x, where, limits, meta.categories, err) ||
      !read_timestamp(x, where, now_ms, meta.timestamp, err) ||
      !ignored_string(x, "Comment", where, err))
    return std::nullopt;
  meta.hidden = hidden.value_or(false);
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
    if (!read_timestamp(x, "body", 0, ts, err))
      return std::nullopt;
    if (ts > 0)
      p.timestamp = ts;
  }
  if (!p.hidden && !p.categories && !p.timestamp) {
    fail(err, "body: nothing to change (give IsHidden, Categories or Timestamp)");
    return std::nullopt;
  }
  return p;
}

std::optional<std::int64_t> parse_timestamp(std::string_view s) {
  unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!digits(s, 0, 4, y) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, mo) ||
      s[7] != '-' || !digits(s, 8, 2, d))
    return std::nullopt;
  static constexpr unsigned month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1 || d > month_days[mo - 1])
    return std::nullopt;
  std::int64_t ms = days_from_civil(y, mo, d) * 86400000;
  if (s.size() == 10)
    return ms >= 0 ? std::optional<std::int64_t>{ms} : std::nullopt;
  if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s, 11, 2, h) || s.size() < 19 ||
      s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, sec) || h > 23 ||
      mi > 59 || sec > 60)
    return std::nullopt;
  ms += (h * 3600 + mi * 60 + std::min(sec, 59u)) * 1000LL;
  std::size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t start = pos;
    std::int64_t frac = 0, scale = 1000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (pos - start < 3) {
        frac = frac * 10 + (s[pos] - '0');
        scale /= 10;
      }
      ++pos;
    }
    if (pos == start)
      return std::nullopt;
    ms += frac * scale;
  }
  if (pos == s.size())
    return ms >= 0 ? std::optional<std::int64_t>{ms} : std::nullopt;  // no zone: UTC
  if ((s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size())
    return ms >= 0 ? std::optional<std::int64_t>{ms} : std::nullopt;
  unsigned oh = 0, om = 0;
  if ((s[pos] == '+' || s[pos] == '-') && pos + 6 == s.size() && digits(s, pos + 1, 2, oh) &&
      s[pos + 3] == ':' && digits(s, pos + 4, 2, om) && oh < 24 && om < 60) {
    const std::int64_t offset = (oh * 60 + om) * 60000LL;
    ms += s[pos] == '+' ? -offset : offset;
    return ms >= 0 ? std::optional<std::int64_t>{ms} : std::nullopt;
  }
  return std::nullopt;
}

std::string format_timestamp(std::int64_t ms) {
  const std::int64_t days = (ms >= 0 ? ms : ms - 86399999) / 86400000;
  std::int64_t rem = ms - days * 86400000;
  std::int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  const auto h = rem / 3600000;
  rem %= 3600000;
  const auto mi = rem / 60000;
  rem %= 60000;
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", y, m, d, h, mi, rem / 1000,
                     rem % 1000);
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

}  // namespace rtrec::http
