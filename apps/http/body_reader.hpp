// What a bulk import reads from a request body that arrives piece by piece:
// JSON lines (one object per line, LF or CRLF), either as the whole body or
// as the part named "file" of a multipart/form-data body (what Gorse's
// dashboard uploads). Both readers keep at most one line (or one boundary)
// of the stream, whatever the body's size. No I/O, no threads.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace rtrec::http {

/// Splits a byte stream into lines of at most max_line bytes.
class line_splitter {
 public:
  /// Called per line: its number (from 1), its text without the line end,
  /// and whether it was too long (then `text` is empty: its bytes were
  /// dropped as they came).
  using on_line = std::function<void(std::uint64_t number, std::string_view text, bool too_long)>;

  explicit line_splitter(std::size_t max_line) : max_line_(max_line) {}

  /// Appends `piece`; calls `f` for every line it completes.
  void feed(std::string_view piece, const on_line& f);
  /// The stream ended: calls `f` for a last line without a line end.
  void finish(const on_line& f);
  std::uint64_t lines() const noexcept { return number_; }

 private:
  void emit(const on_line& f);

  std::size_t max_line_;
  std::string partial_;
  bool too_long_ = false;
  std::uint64_t number_ = 0;
};

/// Extracts the content of one part (by its form field name) of a
/// multipart/form-data body (RFC 7578), piece by piece.
class multipart_reader {
 public:
  /// The boundary from a Content-Type header value; nullopt when it is not
  /// multipart/form-data with a boundary.
  static std::optional<std::string> boundary_of(std::string_view content_type);

  multipart_reader(std::string boundary, std::string field)
    : delimiter_("\r\n--" + boundary), field_(std::move(field)) {}

  /// Appends `piece`; calls `content` with the bytes of the wanted part as
  /// they are known. Returns "" or why the body is not a valid multipart body.
  std::string feed(std::string_view piece, const std::function<void(std::string_view)>& content);
  /// The body ended: "" when the wanted part was found and closed, else why not.
  std::string finish() const;

 private:
  enum class state { preamble, after_delimiter, headers, body, epilogue };
  std::string step(const std::function<void(std::string_view)>& content, bool& progress);
  std::string on_headers(std::string_view headers);

  std::string delimiter_;  // CRLF "--" boundary
  std::string field_;
  std::string buf_ = "\r\n";  // so the first delimiter matches like the others
  state state_ = state::preamble;
  bool wanted_ = false;  // the current part is the wanted one
  bool found_ = false;
  bool closed_ = false;  // the wanted part's end was seen
};

}  // namespace rtrec::http
