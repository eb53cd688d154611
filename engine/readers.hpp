// Data set readers: turn MovieLens and generic CSV/TSV interaction files into
// `event`s, one line at a time, without loading the file into memory.
//
// Every reader pushes each good line into a caller-supplied sink as soon as it
// is parsed. A bad line (wrong field count, empty id, a rating or timestamp
// that is not a finite number, an unterminated quote, an over-long line) is
// counted and described with its 1-based line number, and reading goes on: a
// reader never throws for bad data and never stops early because of it.
//
// Formats (fields are separated by ',' for CSV and '\t' for TSV/u.data):
//
//   movielens_csv    userId,movieId,rating,timestamp   header line, seconds
//   movielens_udata  user<TAB>item<TAB>rating<TAB>ts    no header, seconds
//   generic_csv      user,item[,value[,timestamp]]      optional header
//   generic_tsv      the same with tabs                 optional header
//
// MovieLens lines and generic lines with a value become `rating` events with
// that value; generic lines without one get reader_options::default_type and
// value 0. MovieLens timestamps are Unix seconds; generic timestamps below
// 100'000'000'000 are seconds, larger ones milliseconds. Events carry
// milliseconds. A generic line without a timestamp gets its line number as its
// timestamp (in ms), so the file order is kept.
//
// CSV fields may be quoted ("a,b", with "" for a quote inside); quoted fields
// cannot span lines. Unquoted fields are trimmed of surrounding spaces and
// tabs (TSV fields of spaces only). A trailing '\r' (CRLF files) and a UTF-8
// byte order mark are removed; blank lines are skipped and are not errors.
// Reading is not thread-safe for a shared stream; separate readers on separate
// streams are independent.
#pragma once

#include "engine/event.hpp"

#include <cstddef>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtrec::engine {

/// Layout of an interaction file (see the file comment).
enum class data_format {
  auto_detect,
  movielens_csv,
  movielens_udata,
  generic_csv,
  generic_tsv,
};

/// Parses a format name, case-insensitively: "auto" (or "auto_detect"),
/// "movielens"/"ml-csv"/"movielens_csv", "udata"/"u.data"/"movielens_udata",
/// "csv"/"generic_csv", "tsv"/"generic_tsv". Returns nullopt for any other
/// name.
std::optional<data_format> parse_data_format(std::string_view name) noexcept;

/// Returns the short name of `fmt`: "auto", "movielens", "udata", "csv" or
/// "tsv"; parse_data_format accepts it back. Never null.
const char* to_string(data_format fmt) noexcept;

/// One bad line. `message` starts with "line N: " and names the offending
/// field, e.g. "line 7: field 3 (rating) 'abc' is not a number".
struct read_error {
  std::size_t line = 0;  ///< 1-based physical line number
  std::string message;
};

/// What one read saw.
struct read_stats {
  std::size_t lines = 0;      ///< physical lines read, including header and blank lines
  std::size_t events = 0;     ///< events handed to the sink
  std::size_t bad_lines = 0;  ///< lines refused (all of them, however many errors are kept)
  std::vector<read_error> errors;  ///< the first reader_options::max_errors_kept bad lines
};

/// Knobs of a read.
struct reader_options {
  std::size_t max_errors_kept = 100;           ///< cap on read_stats::errors
  event_type default_type = event_type::view;  ///< type of a generic line without a value
  std::size_t max_line_bytes = 1 << 20;        ///< longer lines are refused as bad (bounds memory)
};

/// Outcome of a read. `ok` is false only when the input could not be opened or
/// read (`error` then says why, naming the path for a file); bad lines alone
/// leave `ok` true and are described in `stats`. On a read error midway the
/// events before it have already been delivered and are counted in `stats`.
struct read_result {
  bool ok = false;
  std::string error;
  read_stats stats;
};

/// Reads `in` to its end in format `fmt` (auto_detect sniffs the first line,
/// see detect_format) and calls `sink` once per good line, in file order, on
/// the calling thread. Returns ok=true with the statistics when the stream was
/// read to its end; ok=false with `error` set when the stream was already
/// failed or went bad while reading. Exceptions thrown by `sink` propagate.
read_result read_events(std::istream& in, data_format fmt,
                        const std::function<void(event&&)>& sink,
                        const reader_options& options = {});

/// Like read_events, on the file at `path`; auto_detect also looks at the file
/// name. Returns ok=false and an error naming the path ("cannot open
/// '<path>': <reason>" or "cannot read '<path>': <reason>") when the file is
/// missing, unreadable or a directory.
read_result read_events_file(const std::string& path, data_format fmt,
                             const std::function<void(event&&)>& sink,
                             const reader_options& options = {});

/// Guesses the format of a file from its name, then from its first line:
/// base name "ratings.csv" -> movielens_csv, "u.data" -> movielens_udata,
/// "*.tsv" -> generic_tsv (names compared case-insensitively); otherwise a
/// first line holding a tab -> generic_tsv, one starting "userId,movieId" ->
/// movielens_csv, anything else -> generic_csv. `path` may be empty. Never
/// returns auto_detect.
data_format detect_format(const std::string& path, std::string_view first_line);

}  // namespace rtrec::engine
