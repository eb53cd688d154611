// One HTTP connection (see session.hpp for the flow).
#include "apps/http/session.hpp"

#include <absl/strings/match.h>
#include <boost/asio/dispatch.hpp>
#include <fmt/format.h>

#include <iterator>

namespace rtrec::http {

namespace {

constexpr std::size_t stream_piece_bytes = 64 * 1024;
// "No limit" for Beast 1.74: its header check compares the Content-Length
// with an optional limit, and an empty one (boost::none) refuses every body.
constexpr std::uint64_t no_body_limit = ~std::uint64_t{0};

bool expects_continue(const bhttp::request_header<>& h) {
  const auto v = h[bhttp::field::expect];
  return absl::EqualsIgnoreCase(absl::string_view{v.data(), v.size()}, "100-continue");
}

}  // namespace

session::session(tcp::socket&& socket, server::impl& srv)
  : stream_(std::move(socket)), srv_(srv) {
  srv_.counters.connections.fetch_add(1, std::memory_order_relaxed);
}

session::~session() {
  srv_.counters.connections.fetch_sub(1, std::memory_order_relaxed);
}

void session::start() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
}

void session::refuse() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    auto r = api::error(503, "too many open connections; retry shortly");
    r.headers.emplace_back("Retry-After", "1");
    self->write(std::move(r), 11, true);
  });
}

void session::close_if_idle() {
  net::post(stream_.get_executor(), [self = shared_from_this()] {
    if (!self->busy_) {
      beast::error_code ec;
      self->stream_.socket().cancel(ec);
    }
  });
}

void session::read() {
  if (srv_.draining.load())
    return close();
  header_parser_.emplace();
  header_parser_->header_limit(static_cast<std::uint32_t>(srv_.opts.max_header_bytes));
  // The limit depends on the route (a streamed import has none): checked
  // once the header is known.
  header_parser_->body_limit(no_body_limit);
  stream_.expires_after(srv_.opts.read_timeout);
  bhttp::async_read_header(stream_, buffer_, *header_parser_,
                           [self = shared_from_this()](beast::error_code ec, std::size_t) {
                             self->on_header(ec);
                           });
}

// Handles a failed read: closes quietly when the peer went away, else
// answers the error. Returns false when there was none.
bool session::read_failed(beast::error_code ec, unsigned version) {
  if (ec == bhttp::error::end_of_stream || ec == net::error::operation_aborted ||
      ec == beast::error::timeout || ec == net::error::connection_reset ||
      ec == net::error::eof) {
    close();
    return true;
  }
  if (!ec)
    return false;
  if (ec == bhttp::error::body_limit)
    fail(413, fmt::format("request body larger than {} bytes", srv_.opts.max_body_bytes),
         version);
  else if (ec == bhttp::error::header_limit)
    fail(431, fmt::format("request header larger than {} bytes", srv_.opts.max_header_bytes),
         version);
  else if (ec == bhttp::error::bad_transfer_encoding)
    fail(415, "unsupported Transfer-Encoding: send Content-Length or chunked", version);
  else
    fail(400, "malformed HTTP request: " + ec.message(), version);
  return true;
}

void session::on_header(beast::error_code ec) {
  version_ = header_parser_->get().version() == 10 ? 10 : 11;
  if (read_failed(ec, version_))
    return;
  const auto& h = header_parser_->get();
  if (auto te = h[bhttp::field::transfer_encoding]; !te.empty()) {
    // Beast decodes chunked; anything else layered on it (gzip, ...) is
    // not supported.
    if (!absl::EqualsIgnoreCase(absl::string_view{te.data(), te.size()}, "chunked"))
      return fail(415, "unsupported Transfer-Encoding " + std::string{te.substr(0, 64)} +
                         ": send Content-Length or chunked",
                  version_);
  }
  if (api::wants_stream(h.method_string(), h.target()))
    return start_stream();
  if (header_parser_->is_done())  // no body (most GETs): nothing more to read
    return handle(h, {}, h.keep_alive());
  if (auto n = header_parser_->content_length(); n && *n > srv_.opts.max_body_bytes)
    return fail(413, fmt::format("request body larger than {} bytes", srv_.opts.max_body_bytes),
                version_);
  if (expects_continue(h))
    return continue_then(&session::read_body);
  read_body();
}

// Answers "100 Continue", then runs `next`.
void session::continue_then(void (session::*next)()) {
  continue_res_ = {bhttp::status::continue_, version_};
  stream_.expires_after(srv_.opts.read_timeout);
  bhttp::async_write(stream_, continue_res_,
                     [self = shared_from_this(), next](beast::error_code ec, std::size_t) {
                       if (ec)
                         return self->close();
                       ((*self).*next)();
                     });
}

void session::read_body() {
  parser_.emplace(std::move(*header_parser_));
  parser_->body_limit(srv_.opts.max_body_bytes);
  stream_.expires_after(srv_.opts.read_timeout);
  bhttp::async_read(stream_, buffer_, *parser_,
                    [self = shared_from_this()](beast::error_code ec, std::size_t) {
                      self->on_read(ec);
                    });
}

request session::make_request(const bhttp::request_header<>& h) const {
  request r;
  r.method = std::string{h.method_string()};
  r.target = std::string{h.target()};
  if (auto it = h.find("X-API-Key"); it != h.end())
    r.api_key = std::string{it->value()};
  r.content_type = std::string{h[bhttp::field::content_type]};
  r.content_encoding = std::string{h[bhttp::field::content_encoding]};
  r.api_version = std::string{h["X-API-Version"]};
  return r;
}

// The responder of a request: writes the answer on the strand; closes after
// it when the client asked to, when draining, or when a streamed body was
// left unread (then after letting the client finish sending).
responder session::answer_with(bool keep, unsigned version) {
  return [self = shared_from_this(), keep, version](response res) {
    net::post(self->stream_.get_executor(), [self, keep, version, res = std::move(res)]() mutable {
      const bool unread = self->body_unread_;
      self->linger_ = self->linger_ || unread;
      self->write(std::move(res), version, !keep || unread || self->srv_.draining.load());
    });
  };
}

void session::on_read(beast::error_code ec) {
  if (read_failed(ec, version_))
    return;
  auto req = parser_->release();
  handle(req.base(), std::move(req.body()), req.keep_alive());
}

void session::handle(const bhttp::request_header<>& h, std::string body, bool keep_alive) {
  auto r = make_request(h);
  r.body = std::move(body);
  busy_ = true;
  stream_.expires_never();
  srv_.handler.handle(std::move(r), answer_with(keep_alive, version_));
}

void session::start_stream() {
  const auto& h = header_parser_->get();
  const bool has_body = !header_parser_->is_done();
  const bool expect = expects_continue(h);
  busy_ = true;
  stream_.expires_never();
  body_unread_ = has_body;
  sink_ = srv_.handler.handle_stream(make_request(h), answer_with(h.keep_alive(), version_));
  if (!sink_)
    return;  // refused: answered without the body
  if (!has_body)
    return end_stream();
  stream_parser_.emplace(std::move(*header_parser_));
  stream_parser_->body_limit(no_body_limit);  // the sink bounds what is held
  piece_.resize(stream_piece_bytes);
  if (expect)
    return continue_then(&session::read_piece);
  read_piece();
}

void session::read_piece() {
  auto& body = stream_parser_->get().body();
  body.data = piece_.data();
  body.size = piece_.size();
  stream_.expires_after(srv_.opts.read_timeout);
  bhttp::async_read(stream_, buffer_, *stream_parser_,
                    [self = shared_from_this()](beast::error_code ec, std::size_t) {
                      self->on_piece(ec);
                    });
}

void session::on_piece(beast::error_code ec) {
  if (ec == bhttp::error::need_buffer)
    ec = {};  // the piece is full
  stream_.expires_never();  // the sink may take its time; the client waits
  if (ec) {
    auto sink = std::move(sink_);
    return sink->end("reading the body failed: " + ec.message());
  }
  const std::size_t got = piece_.size() - stream_parser_->get().body().size;
  const bool done = stream_parser_->is_done();
  auto more = [self = shared_from_this(), done] {
    net::post(self->stream_.get_executor(), [self, done] {
      done ? self->end_stream() : self->read_piece();
    });
  };
  if (got == 0)
    return more();
  sink_->write(std::string_view{piece_.data(), got}, std::move(more));
}

void session::end_stream() {
  body_unread_ = false;
  stream_parser_.reset();
  piece_ = {};
  auto sink = std::move(sink_);
  sink->end({});
}

// Answers a request that could not be read, then closes after letting the
// client finish sending (so it sees the answer, not a reset).
void session::fail(int status, const std::string& message, unsigned version) {
  linger_ = true;
  write(api::error(status, message), version, true);
}

void session::write(response r, unsigned version, bool close_after) {
  if (r.stream)
    return write_stream(std::move(r), version, close_after);
  // The head as text, then head and body in one gathered write: what
  // Beast's serializer wrote for these answers (fields in this order,
  // Connection only where the version's default differs), for a tenth of
  // its instructions. The answers never carry 1xx, 204 or 304 statuses
  // (whose bodies and lengths differ), and their fields are the server's
  // own, never a client's text.
  const auto status = static_cast<bhttp::status>(r.status);
  const auto reason = bhttp::obsolete_reason(status);
  head_.assign(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  fmt::format_to(std::back_inserter(head_), "{} {}\r\nContent-Type: {}\r\n", r.status,
                 std::string_view{reason.data(), reason.size()}, r.content_type);
  for (const auto& [k, v] : r.headers)
    head_.append(k).append(": ").append(v).append("\r\n");
  if (version >= 11 && close_after)
    head_.append("Connection: close\r\n");
  else if (version < 11 && !close_after)
    head_.append("Connection: keep-alive\r\n");
  body_ = std::move(r.body);
  fmt::format_to(std::back_inserter(head_), "Content-Length: {}\r\n\r\n", body_.size());
  stream_.expires_after(srv_.opts.read_timeout);
  const std::array<net::const_buffer, 2> buffers{net::buffer(head_), net::buffer(body_)};
  net::async_write(stream_, buffers,
                   [self = shared_from_this(), close_after](beast::error_code ec, std::size_t) {
                     self->after_write(ec, close_after);
                   });
}

void session::after_write(beast::error_code ec, bool close_after) {
  busy_ = false;
  if (ec || close_after)
    return linger_ ? linger() : close();
  read();
}

// A streamed answer (bulk export): the header, then each piece of the
// source as a chunk, then the last chunk. It counts as in flight until the
// end, so a drain waits for it.
void session::write_stream(response r, unsigned version, bool close_after) {
  source_ = std::move(r.stream);
  stream_res_ = {};
  stream_res_.version(version);
  stream_res_.result(static_cast<bhttp::status>(r.status));
  stream_res_.set(bhttp::field::content_type, r.content_type);
  for (auto& [k, v] : r.headers)
    stream_res_.set(k, v);
  stream_res_.keep_alive(!close_after);
  stream_res_.chunked(true);
  stream_sr_.emplace(stream_res_);
  srv_.counters.requests_in_flight.fetch_add(1, std::memory_order_relaxed);
  stream_.expires_after(srv_.opts.read_timeout);
  bhttp::async_write_header(stream_, *stream_sr_,
                            [self = shared_from_this(), close_after](beast::error_code ec,
                                                                     std::size_t) {
                              if (ec)
                                return self->end_export(false, close_after);
                              self->next_chunk(close_after);
                            });
}

void session::next_chunk(bool close_after) {
  source_->next([self = shared_from_this(), close_after](std::string piece, bool last,
                                                         bool failed) {
    net::post(self->stream_.get_executor(),
              [self, piece = std::move(piece), last, failed, close_after]() mutable {
                self->on_chunk(std::move(piece), last, failed, close_after);
              });
  });
}

void session::on_chunk(std::string piece, bool last, bool failed, bool close_after) {
  if (failed)
    return end_export(false, close_after);  // no last chunk: the client sees it cut short
  auto self = shared_from_this();
  auto finish = [self, close_after] {
    self->stream_.expires_after(self->srv_.opts.read_timeout);
    net::async_write(self->stream_, bhttp::make_chunk_last(),
                     [self, close_after](beast::error_code ec, std::size_t) {
                       self->end_export(!ec, close_after);
                     });
  };
  if (piece.empty())
    return last ? finish() : next_chunk(close_after);
  chunk_ = std::move(piece);
  stream_.expires_after(srv_.opts.read_timeout);
  net::async_write(stream_, bhttp::make_chunk(net::buffer(chunk_)),
                   [self, last, close_after, finish](beast::error_code ec, std::size_t) {
                     if (ec)
                       return self->end_export(false, close_after);
                     last ? finish() : self->next_chunk(close_after);
                   });
}

void session::end_export(bool ok, bool close_after) {
  source_.reset();
  chunk_ = {};
  stream_sr_.reset();
  srv_.counters.requests_in_flight.fetch_sub(1, std::memory_order_release);
  busy_ = false;
  if (!ok || close_after)
    return close();
  read();
}

void session::linger() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream_.expires_after(std::chrono::seconds(2));
  drain_more(0);
}

void session::drain_more(std::size_t drained) {
  if (drained > (64u << 20))
    return close();
  stream_.async_read_some(net::buffer(scratch_),
                          [self = shared_from_this(), drained](beast::error_code ec,
                                                               std::size_t n) {
                            if (ec)
                              return self->close();
                            self->drain_more(drained + n);
                          });
}

void session::close() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.socket().close(ec);
}

}  // namespace rtrec::http
