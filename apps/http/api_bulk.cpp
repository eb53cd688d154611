// Bulk import and export in Gorse's format (JSON lines, one object a line):
//
//   GET  /api/bulk/users, /api/bulk/items  -> application/jsonl, chunked:
//        one user ({"UserId","Labels","Comment","Subscribe"}) or item
//        ({"ItemId","IsHidden","Categories","Timestamp","Labels","Comment"})
//        a line, read page by page (bounded memory whatever the count)
//   GET  /api/bulk/feedback                -> the same for the users' feedback
//        histories ({"FeedbackType","UserId","ItemId","Value","Timestamp","Comment"};
//        what --feedback-retention keeps)
//   POST /api/bulk/users|items|feedback    <- JSON lines as the body, or
//        Gorse's multipart/form-data upload (the part named "file"); read
//        piece by piece as the import goes (the server's body_sink), written
//        in batches through the normal paths (bulk_import.hpp)
//        -> {"RowAffected", "Lines", "Duplicates", "Errors", "FirstErrors"}
//
// A bad line does not stop an import: it is counted and the first ones are
// listed by line number. An import stops early only when the service
// refuses a batch (shutting down, a shard unavailable): 503 with what was
// written so far.
#include <absl/strings/ascii.h>
#include <absl/strings/match.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "apps/http/api.hpp"
#include "apps/http/api_call.hpp"
#include "apps/http/body_reader.hpp"
#include "apps/http/bulk_export.hpp"
#include "apps/http/bulk_import.hpp"

namespace rtrec::http {

using nlohmann::json;

namespace {

constexpr std::size_t max_line_bytes = 1u << 20;
constexpr std::uint32_t export_page = 500;

// One import's reading state: the multipart reader (if any), the line
// splitter and the importer. Fed by one thread at a time.
class upload {
 public:
  upload(service& eng, bulk_kind kind, const input_limits& limits,
         std::optional<std::string> boundary)
    : importer_(eng, kind, limits) {
    if (boundary)
      multipart_.emplace(*boundary, "file");
  }

  /// Takes a piece of the body; returns "" or why the import cannot go on.
  std::string feed(std::string_view piece) {
    if (multipart_) {
      if (auto why = multipart_->feed(piece, [this](std::string_view s) { lines(s); });
          !why.empty())
        return why;
    } else {
      lines(piece);
    }
    return stopped();
  }

  /// The body ended; returns "" or why the import is incomplete.
  std::string end() {
    if (multipart_)
      if (auto why = multipart_->finish(); !why.empty())
        return why;
    splitter_.finish(on_line());
    report_ = importer_.finish();
    return stopped();
  }

  const bulk_report& report() {
    report_ = importer_.report();
    return report_;
  }
  bool engine_stopped() const { return importer_.stopped().has_value(); }
  const std::optional<rtrec::error>& engine_error() const { return importer_.stopped(); }

 private:
  line_splitter::on_line on_line() {
    return [this](std::uint64_t n, std::string_view text, bool too_long) {
      if (too_long)
        importer_.refuse(n, fmt::format("longer than {} bytes", max_line_bytes));
      else
        importer_.line(n, text);
    };
  }
  void lines(std::string_view content) { splitter_.feed(content, on_line()); }
  std::string stopped() const {
    const auto& s = importer_.stopped();
    return s ? "the service refused a batch: " + s->to_string() : std::string{};
  }

  line_splitter splitter_{max_line_bytes};
  std::optional<multipart_reader> multipart_;
  bulk_importer importer_;
  bulk_report report_;
};

// A body_sink that runs each step on the blocking executor, in order.
class deferred_sink : public body_sink, public std::enable_shared_from_this<deferred_sink> {
 public:
  using feed_fn = std::function<bool(std::string_view)>;  // false: stop reading
  using end_fn = std::function<void(std::string)>;
  deferred_sink(executor blocking, feed_fn feed, end_fn end)
    : blocking_(std::move(blocking)), feed_(std::move(feed)), end_(std::move(end)) {}

  void write(std::string_view piece, std::function<void()> more) override {
    blocking_([self = shared_from_this(), data = std::string{piece}, more = std::move(more)] {
      if (self->feed_(data))
        more();
    });
  }
  void end(std::string error) override {
    blocking_([self = shared_from_this(), error = std::move(error)] { self->end_(error); });
  }

 private:
  executor blocking_;
  feed_fn feed_;
  end_fn end_;
};

// Pages of an export, one after the other on the blocking executor.
class page_source : public body_source, public std::enable_shared_from_this<page_source> {
 public:
  /// Fills `lines` with the page after `cursor` and sets the next cursor
  /// ("" after the last page); returns "" or why it failed.
  using page_fn = std::function<std::string(std::string& cursor, std::string& lines)>;
  page_source(executor blocking, page_fn page, std::string first, std::string cursor)
    : blocking_(std::move(blocking)), page_(std::move(page)), pending_(std::move(first)),
      cursor_(std::move(cursor)) {}

  void next(next_fn done) override {
    if (!pending_.empty() || cursor_.empty()) {
      auto piece = std::move(pending_);
      pending_.clear();
      return done(std::move(piece), cursor_.empty(), false);
    }
    blocking_([self = shared_from_this(), done = std::move(done)] {
      std::string lines;
      if (auto why = self->page_(self->cursor_, lines); !why.empty()) {
        spdlog::warn("http: bulk export cut short: {}", why);
        return done({}, true, true);
      }
      done(std::move(lines), self->cursor_.empty(), false);
    });
  }

 private:
  executor blocking_;
  page_fn page_;
  std::string pending_;
  std::string cursor_;
};

// A page of an export as JSON lines; "" or why it failed.
std::string export_page_of(service& eng, bulk_kind kind, std::string& cursor,
                           std::string& lines) {
  std::size_t count = 0;
  return bulk_export_page(eng, kind, cursor, export_page, lines, count);
}

// The multipart boundary, or nullopt for a JSON-lines body; sets `err` for
// a Content-Type an import cannot read.
std::optional<std::string> body_format(const request& req, input_error& err) {
  if (!req.content_encoding.empty() && req.content_encoding != "identity") {
    err = {415, "Content-Encoding " + req.content_encoding.substr(0, 64) +
                  " is not supported; send the body uncompressed"};
    return std::nullopt;
  }
  if (auto b = multipart_reader::boundary_of(req.content_type))
    return b;
  absl::string_view base = req.content_type;
  base = absl::StripAsciiWhitespace(base.substr(0, base.find(';')));
  for (const char* ok : {"", "application/jsonl", "application/x-ndjson", "application/x-jsonlines",
                         "application/json", "text/plain", "application/octet-stream"})
    if (absl::EqualsIgnoreCase(base, ok))
      return std::nullopt;
  err = {415, fmt::format("Content-Type {} is not supported: send JSON lines "
                          "(application/jsonl) or a multipart/form-data upload with a \"file\" "
                          "field",
                          req.content_type.substr(0, 64))};
  return std::nullopt;
}

}  // namespace

void api::bulk_export(const call_ptr& c, path_args a) {
  const auto kind = parse_bulk_kind(a.name);
  if (!kind)
    return c->finish(error(404, fmt::format("bulk: no collection \"{}\"; rtrec has users, items "
                                            "and feedback",
                                            a.name.substr(0, 64))));
  blocking_([this, c, kind = *kind] {
    std::string cursor, first;
    if (auto why = export_page_of(engine_, kind, cursor, first); !why.empty()) {
      auto r = error(503, "bulk export: " + why);
      r.headers.emplace_back("Retry-After", std::to_string(opts_.retry_after_s));
      return c->finish(std::move(r));
    }
    response r;
    r.content_type = "application/jsonl";
    r.headers.emplace_back("Content-Disposition",
                           fmt::format("attachment;filename={}.jsonl", to_string(kind)));
    r.stream = std::make_shared<page_source>(
      blocking_,
      [this, kind](std::string& cur, std::string& lines) {
        return export_page_of(engine_, kind, cur, lines);
      },
      std::move(first), std::move(cursor));
    c->finish(std::move(r));
  });
}

void api::bulk_import(const call_ptr& c, path_args a) {
  const auto kind = parse_bulk_kind(a.name);
  if (!kind)
    return c->finish(error(404, fmt::format("bulk: no collection \"{}\"; rtrec has users, items "
                                            "and feedback",
                                            a.name.substr(0, 64))));
  input_error err;
  auto boundary = body_format(c->req, err);
  if (!err.message.empty())
    return c->finish(error(err.status, err.message));
  auto up = std::make_shared<upload>(engine_, *kind, opts_.limits, std::move(boundary));
  // Answers with the report; `why` non-empty: the import stopped early.
  auto answer = [this, c, up](const std::string& why) {
    auto body = up->report().to_json();
    if (why.empty())
      return c->finish(ok(body));
    const int status = up->engine_stopped() ? engine_error(*up->engine_error()).status : 400;
    body["error"] = fmt::format("import stopped after line {}: {}", body["Lines"].get<std::uint64_t>(), why);
    body["status"] = status;
    auto r = ok(body);
    r.status = status;
    if (status == 503)
      r.headers.emplace_back("Retry-After", std::to_string(opts_.retry_after_s));
    c->finish(std::move(r));
  };
  auto feed = [up, answer](std::string_view piece) {
    auto why = up->feed(piece);
    if (!why.empty())
      answer(why);
    return why.empty();
  };
  auto end = [up, answer](const std::string& read_error) {
    answer(read_error.empty() ? up->end() : "body: " + read_error);
  };
  if (c->streaming) {
    c->sink = std::make_shared<deferred_sink>(blocking_, std::move(feed), std::move(end));
    return;
  }
  blocking_([c, feed, end] {  // the whole body is already here
    if (feed(c->req.body))
      end({});
  });
}

}  // namespace rtrec::http
