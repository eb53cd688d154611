// Streaming parsers for interaction files (see readers.hpp).
//
// The input is pulled in 64 KiB blocks into one growing buffer; complete lines
// are cut out with memchr and parsed in place, so memory stays bounded by the
// longest line (capped by reader_options::max_line_bytes) plus one block.
// Fields are string_views into the block, or into a scratch string when a CSV
// line holds quotes. Numbers go through std::from_chars (locale-free).
#include "engine/readers.hpp"

#include <absl/strings/match.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <istream>
#include <limits>
#include <memory>
#include <system_error>
#include <utility>

namespace rtrec::engine {

namespace {

constexpr std::size_t block_size = std::size_t{1} << 16;

/// Fields kept per line; further fields are only counted.
constexpr std::size_t max_fields = 5;

/// Timestamps below this are seconds, from here on milliseconds.
constexpr std::int64_t ms_threshold = 100'000'000'000;

// Debian 12's Abseil keeps its own absl::string_view (not an alias of
// std::string_view, no conversion between them).
absl::string_view av(std::string_view s) noexcept {
  return {s.data(), s.size()};
}

std::string_view trim(std::string_view s, bool tabs_too) noexcept {
  auto is_space = [tabs_too](char c) { return c == ' ' || (tabs_too && c == '\t'); };
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_space(s.back()))
    s.remove_suffix(1);
  return s;
}

std::string_view strip_bom(std::string_view s) noexcept {
  if (s.size() >= 3 && s.substr(0, 3) == "\xEF\xBB\xBF")
    s.remove_prefix(3);
  return s;
}

/// Returns `s` quoted for a message, cut to 40 bytes.
std::string quoted(std::string_view s) {
  std::string out = "'";
  if (s.size() > 40) {
    out.append(s.substr(0, 40));
    out += "...";
  } else {
    out.append(s);
  }
  out += '\'';
  return out;
}

/// How a field converted to a number.
enum class number_status { ok, not_number, not_finite, out_of_range };

/// Returns the message tail for a failed conversion.
const char* describe(number_status st) noexcept {
  switch (st) {
    case number_status::not_finite: return "is not a finite number";
    case number_status::out_of_range: return "is out of range";
    default: return "is not a number";
  }
}

/// Converts all of `s` (decimal, optional sign and exponent) to a finite
/// double in `out`; returns ok or why not.
number_status parse_double(std::string_view s, double& out) noexcept {
  if (!s.empty() && s.front() == '+')
    s.remove_prefix(1);
  if (s.empty())
    return number_status::not_number;
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ptr != s.data() + s.size())
    return number_status::not_number;
  if (ec == std::errc::result_out_of_range)
    return number_status::out_of_range;
  if (ec != std::errc{})
    return number_status::not_number;
  if (!std::isfinite(v))
    return number_status::not_finite;
  out = v;
  return number_status::ok;
}

/// The fields of one line: views into the line or into the scratch buffer.
struct split_line {
  std::array<std::string_view, max_fields> field{};
  std::size_t count = 0;  ///< total number of fields, may exceed max_fields

  void add(std::string_view f) noexcept {
    if (count < max_fields)
      field[count] = f;
    ++count;
  }
};

/// Splits a tab-separated line; fields are trimmed of spaces.
void split_tsv(std::string_view line, split_line& out) noexcept {
  out.count = 0;
  for (;;) {
    auto tab = line.find('\t');
    out.add(trim(line.substr(0, tab), false));
    if (tab == std::string_view::npos)
      return;
    line.remove_prefix(tab + 1);
  }
}

/// Splits a comma-separated line with RFC 4180 quoting; `scratch` receives
/// unescaped quoted text. Returns an empty string on success, else why the
/// quoting is broken (without the "line N: " prefix).
std::string split_csv(std::string_view line, split_line& out, std::string& scratch) {
  out.count = 0;
  if (line.find('"') == std::string_view::npos) {  // fast path
    for (;;) {
      auto comma = line.find(',');
      out.add(trim(line.substr(0, comma), true));
      if (comma == std::string_view::npos)
        return {};
      line.remove_prefix(comma + 1);
    }
  }
  // Unescaped text is never longer than the line: size once, never reallocate
  // while views into it are alive.
  if (scratch.size() < line.size())
    scratch.resize(line.size());
  char* const base = scratch.data();
  std::size_t used = 0;
  std::size_t pos = 0;
  for (;;) {
    while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t'))
      ++pos;
    if (pos < line.size() && line[pos] == '"') {
      std::size_t field_number = out.count + 1;
      std::size_t start = used;
      ++pos;
      bool closed = false;
      while (pos < line.size()) {
        char c = line[pos++];
        if (c == '"') {
          if (pos < line.size() && line[pos] == '"') {
            base[used++] = '"';
            ++pos;
          } else {
            closed = true;
            break;
          }
        } else {
          base[used++] = c;
        }
      }
      if (!closed)
        return "field " + std::to_string(field_number) + " has an unterminated quote";
      while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t'))
        ++pos;
      if (pos < line.size() && line[pos] != ',')
        return "field " + std::to_string(field_number) + " has "
               + quoted(line.substr(pos, 1)) + " after its closing quote";
      out.add(std::string_view(base + start, used - start));
    } else {
      auto comma = line.find(',', pos);
      auto end = comma == std::string_view::npos ? line.size() : comma;
      out.add(trim(line.substr(pos, end - pos), true));
      pos = end;
    }
    if (pos >= line.size())
      return {};
    ++pos;  // the comma
    if (pos == line.size()) {
      out.add({});  // trailing comma: one more, empty, field
      return {};
    }
  }
}

bool is_user_header_word(std::string_view f) noexcept {
  static constexpr std::array<std::string_view, 9> words{
      "user", "userid", "user_id", "user id", "uid", "users",
      "visitorid", "visitor_id", "customer_id"};
  for (auto w : words)
    if (absl::EqualsIgnoreCase(av(f), av(w)))
      return true;
  return false;
}

bool is_item_header_word(std::string_view f) noexcept {
  static constexpr std::array<std::string_view, 10> words{
      "item", "itemid", "item_id", "item id", "iid", "items",
      "movieid", "movie_id", "productid", "product_id"};
  for (auto w : words)
    if (absl::EqualsIgnoreCase(av(f), av(w)))
      return true;
  return false;
}

/// A first line is a header when it names a known id column or when its
/// third field is present but not a number.
bool looks_like_header(const split_line& f) noexcept {
  if (f.count >= 1 && is_user_header_word(f.field[0]))
    return true;
  if (f.count >= 2 && is_item_header_word(f.field[1]))
    return true;
  if (f.count >= 3 && !f.field[2].empty()) {
    double v = 0;
    if (parse_double(f.field[2], v) == number_status::not_number)
      return true;
  }
  return false;
}

/// Pulls bytes from the input: returns the count read, 0 at the end, -1 on
/// an error (then `error` says why).
class byte_source {
 public:
  virtual ~byte_source() = default;
  virtual std::ptrdiff_t read(char* dst, std::size_t n) = 0;
  std::string error;
};

class stream_source final : public byte_source {
 public:
  explicit stream_source(std::istream& in) : in_(in) {}
  std::ptrdiff_t read(char* dst, std::size_t n) override {
    if (in_.eof())
      return 0;
    in_.read(dst, static_cast<std::streamsize>(n));
    if (in_.bad()) {
      error = "input stream went bad while reading";
      return -1;
    }
    return static_cast<std::ptrdiff_t>(in_.gcount());
  }

 private:
  std::istream& in_;
};

struct file_closer {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};

class file_source final : public byte_source {
 public:
  file_source(std::FILE* f, std::string path) : file_(f), path_(std::move(path)) {}
  std::ptrdiff_t read(char* dst, std::size_t n) override {
    std::size_t got = std::fread(dst, 1, n, file_.get());
    if (got == 0 && std::ferror(file_.get())) {
      error = "cannot read '" + path_ + "': "
              + std::error_code(errno, std::generic_category()).message();
      return -1;
    }
    return static_cast<std::ptrdiff_t>(got);
  }

 private:
  std::unique_ptr<std::FILE, file_closer> file_;
  std::string path_;
};

/// Parses lines one by one into events.
class line_parser {
 public:
  line_parser(data_format fmt, const std::string& path,
              const std::function<void(event&&)>& sink, const reader_options& options,
              read_stats& stats)
      : fmt_(fmt), path_(path), sink_(sink), options_(options), stats_(stats) {}

  /// Handles physical line `number` (without its '\n').
  void on_line(std::string_view line, std::size_t number) {
    if (number == 1)
      line = strip_bom(line);
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    if (line.size() > options_.max_line_bytes) {
      too_long(number);
      return;
    }
    if (trim(line, true).empty())
      return;
    if (fmt_ == data_format::auto_detect)
      fmt_ = detect_format(path_, line);
    const bool first = !header_checked_;  // only the first non-blank line can be a header
    header_checked_ = true;
    const bool csv = fmt_ == data_format::movielens_csv || fmt_ == data_format::generic_csv;
    if (csv) {
      if (auto why = split_csv(line, fields_, scratch_); !why.empty()) {
        bad(number, std::move(why));
        return;
      }
    } else {
      split_tsv(line, fields_);
    }
    if (first && fmt_ != data_format::movielens_udata && looks_like_header(fields_))
      return;
    if (fmt_ == data_format::movielens_csv || fmt_ == data_format::movielens_udata)
      parse_movielens(number);
    else
      parse_generic(number);
  }

  /// Records that line `number` is longer than max_line_bytes.
  void too_long(std::size_t number) {
    header_checked_ = true;
    bad(number, "longer than " + std::to_string(options_.max_line_bytes) + " bytes");
  }

 private:
  void bad(std::size_t number, std::string why) {
    ++stats_.bad_lines;
    if (stats_.errors.size() < options_.max_errors_kept)
      stats_.errors.push_back({number, "line " + std::to_string(number) + ": " + why});
  }

  void bad_field(std::size_t number, std::size_t index, const char* name,
                 std::string_view text, const char* what) {
    std::string why = "field " + std::to_string(index + 1) + " (" + name + ")";
    if (text.empty()) {
      why += " is empty";
    } else {
      why += ' ';
      why += quoted(text);
      why += ' ';
      why += what;
    }
    bad(number, std::move(why));
  }

  bool check_ids(std::size_t number) {
    if (fields_.field[0].empty()) {
      bad_field(number, 0, "user", {}, "");
      return false;
    }
    if (fields_.field[1].empty()) {
      bad_field(number, 1, "item", {}, "");
      return false;
    }
    return true;
  }

  bool parse_value(std::size_t number, const char* name, double& out) {
    std::string_view text = fields_.field[2];
    auto st = parse_double(text, out);
    if (st == number_status::ok)
      return true;
    bad_field(number, 2, name, text, describe(st));
    return false;
  }

  /// Converts field 4 to milliseconds; seconds when `seconds` or when below
  /// ms_threshold.
  bool parse_timestamp(std::size_t number, bool seconds, std::int64_t& out_ms) {
    std::string_view text = fields_.field[3];
    std::string_view digits = (!text.empty() && text.front() == '+') ? text.substr(1) : text;
    std::int64_t whole = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), whole);
    const bool integral = !digits.empty() && ec == std::errc{} && ptr == digits.data() + digits.size();
    if (integral) {
      if (whole < 0) {
        bad_field(number, 3, "timestamp", text, "is negative");
        return false;
      }
      if (seconds || whole < ms_threshold) {
        if (whole > std::numeric_limits<std::int64_t>::max() / 1000) {
          bad_field(number, 3, "timestamp", text, "is out of range");
          return false;
        }
        out_ms = whole * 1000;
      } else {
        out_ms = whole;
      }
      return true;
    }
    if (ec == std::errc::result_out_of_range && ptr == digits.data() + digits.size()) {
      bad_field(number, 3, "timestamp", text, "is out of range");
      return false;
    }
    double v = 0;  // fractional seconds, "1.7e9", ...
    if (auto st = parse_double(text, v); st != number_status::ok) {
      bad_field(number, 3, "timestamp", text, describe(st));
      return false;
    }
    if (v < 0) {
      bad_field(number, 3, "timestamp", text, "is negative");
      return false;
    }
    double ms = (seconds || v < static_cast<double>(ms_threshold)) ? v * 1000.0 : v;
    if (ms >= 9.2e18) {
      bad_field(number, 3, "timestamp", text, "is out of range");
      return false;
    }
    out_ms = static_cast<std::int64_t>(std::llround(ms));
    return true;
  }

  void emit(std::int64_t timestamp, event_type type, double value) {
    event e;
    e.user.assign(fields_.field[0]);
    e.item.assign(fields_.field[1]);
    e.type = type;
    e.value = value;
    e.timestamp = timestamp;
    sink_(std::move(e));
    ++stats_.events;
  }

  void parse_movielens(std::size_t number) {
    if (fields_.count != 4) {
      bad(number, "expected 4 fields (user, item, rating, timestamp), found "
                      + std::to_string(fields_.count));
      return;
    }
    double rating = 0;
    std::int64_t ts = 0;
    if (!check_ids(number) || !parse_value(number, "rating", rating)
        || !parse_timestamp(number, true, ts))
      return;
    emit(ts, event_type::rating, rating);
  }

  void parse_generic(std::size_t number) {
    if (fields_.count < 2 || fields_.count > 4) {
      bad(number, "expected 2 to 4 fields (user, item[, value[, timestamp]]), found "
                      + std::to_string(fields_.count));
      return;
    }
    if (!check_ids(number))
      return;
    event_type type = options_.default_type;
    double value = 0;
    if (fields_.count >= 3 && !fields_.field[2].empty()) {
      if (!parse_value(number, "value", value))
        return;
      type = event_type::rating;
    }
    auto ts = static_cast<std::int64_t>(number);
    if (fields_.count == 4 && !fields_.field[3].empty() && !parse_timestamp(number, false, ts))
      return;
    emit(ts, type, value);
  }

  data_format fmt_;
  const std::string& path_;
  const std::function<void(event&&)>& sink_;
  const reader_options& options_;
  read_stats& stats_;
  bool header_checked_ = false;
  split_line fields_;
  std::string scratch_;
};

/// Cuts `src` into lines and feeds them to a line_parser.
read_result run(byte_source& src, data_format fmt, const std::string& path,
                const std::function<void(event&&)>& sink, const reader_options& options) {
  read_result result;
  line_parser parser(fmt, path, sink, options, result.stats);
  std::vector<char> buf(2 * block_size);
  std::size_t begin = 0;  // unconsumed bytes are buf[begin, end)
  std::size_t end = 0;
  std::size_t line_no = 0;
  bool at_end = false;
  bool skipping = false;  // inside an over-long line, already reported
  for (;;) {
    const char* data = buf.data();
    if (auto* nl = static_cast<const char*>(std::memchr(data + begin, '\n', end - begin))) {
      ++line_no;
      auto length = static_cast<std::size_t>(nl - (data + begin));
      if (skipping)
        skipping = false;
      else
        parser.on_line(std::string_view(data + begin, length), line_no);
      begin += length + 1;
      continue;
    }
    if (at_end) {
      if (end > begin || skipping) {
        ++line_no;
        if (!skipping)
          parser.on_line(std::string_view(data + begin, end - begin), line_no);
      }
      break;
    }
    // Only part of a line is buffered. +1 leaves room for a '\r'.
    if (!skipping && end - begin > 1 && end - begin - 1 > options.max_line_bytes) {
      parser.too_long(line_no + 1);
      skipping = true;
    }
    if (skipping) {
      begin = end = 0;
    } else if (begin > 0) {
      std::memmove(buf.data(), buf.data() + begin, end - begin);
      end -= begin;
      begin = 0;
    }
    if (buf.size() - end < block_size)
      buf.resize(std::max(buf.size() * 2, end + block_size));
    std::ptrdiff_t got = src.read(buf.data() + end, buf.size() - end);
    if (got < 0) {
      result.stats.lines = line_no;
      result.error = src.error;
      return result;
    }
    if (got == 0)
      at_end = true;
    end += static_cast<std::size_t>(got);
  }
  result.stats.lines = line_no;
  result.ok = true;
  return result;
}

}  // namespace

std::optional<data_format> parse_data_format(std::string_view name) noexcept {
  struct entry {
    std::string_view name;
    data_format fmt;
  };
  static constexpr std::array<entry, 12> table{{
      {"auto", data_format::auto_detect},
      {"auto_detect", data_format::auto_detect},
      {"movielens", data_format::movielens_csv},
      {"ml-csv", data_format::movielens_csv},
      {"movielens_csv", data_format::movielens_csv},
      {"udata", data_format::movielens_udata},
      {"u.data", data_format::movielens_udata},
      {"movielens_udata", data_format::movielens_udata},
      {"csv", data_format::generic_csv},
      {"generic_csv", data_format::generic_csv},
      {"tsv", data_format::generic_tsv},
      {"generic_tsv", data_format::generic_tsv},
  }};
  for (const auto& e : table)
    if (absl::EqualsIgnoreCase(av(name), av(e.name)))
      return e.fmt;
  return std::nullopt;
}

const char* to_string(data_format fmt) noexcept {
  switch (fmt) {
    case data_format::auto_detect: return "auto";
    case data_format::movielens_csv: return "movielens";
    case data_format::movielens_udata: return "udata";
    case data_format::generic_csv: return "csv";
    case data_format::generic_tsv: return "tsv";
  }
  return "unknown";
}

data_format detect_format(const std::string& path, std::string_view first_line) {
  std::string_view name = path;
  if (auto slash = name.find_last_of("/\\"); slash != std::string_view::npos)
    name.remove_prefix(slash + 1);
  if (absl::EqualsIgnoreCase(av(name), "ratings.csv"))
    return data_format::movielens_csv;
  if (absl::EqualsIgnoreCase(av(name), "u.data"))
    return data_format::movielens_udata;
  if (absl::EndsWithIgnoreCase(av(name), ".tsv"))
    return data_format::generic_tsv;
  first_line = strip_bom(first_line);
  if (first_line.find('\t') != std::string_view::npos)
    return data_format::generic_tsv;
  if (absl::StartsWithIgnoreCase(av(first_line), "userId,movieId"))
    return data_format::movielens_csv;
  return data_format::generic_csv;
}

read_result read_events(std::istream& in, data_format fmt,
                        const std::function<void(event&&)>& sink,
                        const reader_options& options) {
  if (!in) {
    read_result r;
    r.error = "input stream is not readable (already failed)";
    return r;
  }
  stream_source src(in);
  static const std::string no_path;
  return run(src, fmt, no_path, sink, options);
}

read_result read_events_file(const std::string& path, data_format fmt,
                             const std::function<void(event&&)>& sink,
                             const reader_options& options) {
  errno = 0;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    read_result r;
    int err = errno != 0 ? errno : ENOENT;
    r.error = "cannot open '" + path + "': "
              + std::error_code(err, std::generic_category()).message();
    return r;
  }
  file_source src(f, path);
  return run(src, fmt, path, sink, options);
}

}  // namespace rtrec::engine
