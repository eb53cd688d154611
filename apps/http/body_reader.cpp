// The line splitter and the multipart/form-data reader of bulk imports (see
// body_reader.hpp).
#include "apps/http/body_reader.hpp"

#include <absl/strings/ascii.h>
#include <absl/strings/match.h>
#include <absl/strings/str_split.h>

namespace rtrec::http {

namespace {

// Debian's Abseil has its own string_view.
absl::string_view av(std::string_view s) {
  return {s.data(), s.size()};
}

}  // namespace

void line_splitter::emit(const on_line& f) {
  ++number_;
  std::string_view text = partial_;
  if (!text.empty() && text.back() == '\r')
    text.remove_suffix(1);
  f(number_, too_long_ ? std::string_view{} : text, too_long_);
  partial_.clear();
  too_long_ = false;
}

void line_splitter::feed(std::string_view piece, const on_line& f) {
  while (!piece.empty()) {
    const auto nl = piece.find('\n');
    const auto part = piece.substr(0, nl);
    // One byte more than max_line: room for a CR before the LF.
    if (!too_long_ && partial_.size() + part.size() > max_line_ + 1) {
      too_long_ = true;
      partial_.clear();
    }
    if (!too_long_)
      partial_.append(part);
    if (nl == std::string_view::npos)
      return;
    emit(f);
    piece.remove_prefix(nl + 1);
  }
}

void line_splitter::finish(const on_line& f) {
  if (!partial_.empty() || too_long_)
    emit(f);
}

std::optional<std::string> multipart_reader::boundary_of(std::string_view type_view) {
  const auto content_type = av(type_view);
  const auto semi = content_type.find(';');
  if (!absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(content_type.substr(0, semi)),
                              "multipart/form-data") ||
      semi == absl::string_view::npos)
    return std::nullopt;
  for (absl::string_view param : absl::StrSplit(content_type.substr(semi + 1), ';')) {
    param = absl::StripAsciiWhitespace(param);
    if (!absl::StartsWithIgnoreCase(param, "boundary="))
      continue;
    auto value = param.substr(9);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    if (value.empty() || value.size() > 70)  // RFC 2046: 1 to 70 characters
      return std::nullopt;
    return std::string{value};
  }
  return std::nullopt;
}

// The Content-Disposition of a part's headers decides whether it is wanted.
std::string multipart_reader::on_headers(std::string_view headers) {
  wanted_ = false;
  for (absl::string_view line : absl::StrSplit(av(headers), "\r\n")) {
    if (!absl::StartsWithIgnoreCase(line, "content-disposition:"))
      continue;
    for (absl::string_view param : absl::StrSplit(line.substr(20), ';')) {
      param = absl::StripAsciiWhitespace(param);
      if (!absl::StartsWithIgnoreCase(param, "name="))
        continue;
      auto name = param.substr(5);
      if (name.size() >= 2 && name.front() == '"' && name.back() == '"')
        name = name.substr(1, name.size() - 2);
      wanted_ = name == field_ && !found_;
    }
  }
  found_ = found_ || wanted_;
  return {};
}

// Advances through buf_ as far as it can; sets `progress` when it did.
std::string multipart_reader::step(const std::function<void(std::string_view)>& content,
                                   bool& progress) {
  progress = false;
  switch (state_) {
    case state::preamble:
    case state::body: {
      const auto at = buf_.find(delimiter_);
      const auto keep = at == std::string::npos ? delimiter_.size() - 1 : 0;
      const auto upto = at == std::string::npos ? (buf_.size() > keep ? buf_.size() - keep : 0)
                                                : at;
      if (state_ == state::body && wanted_ && upto > 0)
        content(std::string_view{buf_}.substr(0, upto));
      if (at == std::string::npos) {
        buf_.erase(0, upto);
        return {};
      }
      if (state_ == state::body && wanted_)
        closed_ = true;
      buf_.erase(0, at + delimiter_.size());
      state_ = state::after_delimiter;
      progress = true;
      return {};
    }
    case state::after_delimiter:
      if (buf_.size() < 2)
        return {};
      state_ = buf_.compare(0, 2, "--") == 0 ? state::epilogue : state::headers;
      if (state_ == state::headers && buf_.compare(0, 2, "\r\n") != 0)
        return "multipart body: a boundary line does not end with CRLF";
      buf_.erase(0, 2);
      progress = true;
      return {};
    case state::headers: {
      const auto end = buf_.find("\r\n\r\n");
      if (end == std::string::npos)
        return buf_.size() > 16384 ? "multipart body: part headers longer than 16 KiB" : "";
      auto why = on_headers(std::string_view{buf_}.substr(0, end));
      buf_.erase(0, end + 4);
      state_ = state::body;
      progress = true;
      return why;
    }
    case state::epilogue:
      buf_.clear();
      return {};
  }
  return {};
}

std::string multipart_reader::feed(std::string_view piece,
                                   const std::function<void(std::string_view)>& content) {
  buf_.append(piece);
  bool progress = true;
  while (progress)
    if (auto why = step(content, progress); !why.empty())
      return why;
  return {};
}

std::string multipart_reader::finish() const {
  if (!found_)
    return "multipart body: no part named \"" + field_ +
           "\" (Gorse's bulk import sends the file in a form field named \"file\")";
  if (!closed_)
    return "multipart body: the \"" + field_ + "\" part is cut short (no closing boundary)";
  return {};
}

}  // namespace rtrec::http
