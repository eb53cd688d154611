// One HTTP connection (Boost.Beast): read a request, let the api answer it,
// write the answer, repeat while the connection is kept alive. All of its
// handlers run on its strand. Private to the server.
//
//   read header --> body streamed? (api::wants_stream: POST /api/bulk/...)
//     no:  read the whole body (at most max_body_bytes; none when the
//          header says so) --> api::handle
//     yes: api::handle_stream --> sink; read a piece (64 KiB) --> sink.write
//          --> more() --> next piece ... --> sink.end  (no size limit:
//          the sink holds back reading, so memory stays bounded)
//   answer: a body in memory, or a body_source written chunk by chunk
//
// "Expect: 100-continue" is answered before the body is read (curl sends it
// with large uploads). A streamed request whose body was not read to its end
// (refused, or stopped early) is answered, then the connection closes after
// letting the client finish sending.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apps/http/server_impl.hpp"

namespace rtrec::http {

class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket&& socket, server::impl& srv);
  ~session();

  /// Starts reading requests.
  void start();
  /// Answers 503 at once and closes (too many connections).
  void refuse();
  /// On drain: closes the connection unless a request is being handled.
  void close_if_idle();

 private:
  void read();
  void on_header(beast::error_code ec);
  void read_body();
  void on_read(beast::error_code ec);
  /// Hands a whole request (its header and body) to the API.
  void handle(const bhttp::request_header<>& h, std::string body, bool keep_alive);
  void continue_then(void (session::*next)());
  request make_request(const bhttp::request_header<>& h) const;
  responder answer_with(bool keep, unsigned version);
  bool read_failed(beast::error_code ec, unsigned version);
  void fail(int status, const std::string& message, unsigned version);
  // a streamed request body
  void start_stream();
  void read_piece();
  void on_piece(beast::error_code ec);
  void end_stream();
  // writing
  void write(response r, unsigned version, bool close_after);
  void write_stream(response r, unsigned version, bool close_after);
  void next_chunk(bool close_after);
  void on_chunk(std::string piece, bool last, bool failed, bool close_after);
  void end_export(bool ok, bool close_after);
  void after_write(beast::error_code ec, bool close_after);
  void linger();
  void drain_more(std::size_t drained);
  void close();

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::empty_body>> header_parser_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::request_parser<bhttp::buffer_body>> stream_parser_;
  std::shared_ptr<body_sink> sink_;
  std::vector<char> piece_;  // a streamed body's piece (allocated for streams only)
  // A whole answer as written: its head (status line and fields, as
  // text) and its body, sent in one gathered write.
  std::string head_;
  std::string body_;
  bhttp::response<bhttp::empty_body> continue_res_;
  bhttp::response<bhttp::empty_body> stream_res_;
  std::optional<bhttp::response_serializer<bhttp::empty_body>> stream_sr_;
  std::shared_ptr<body_source> source_;
  std::string chunk_;
  std::array<char, 8192> scratch_{};
  server::impl& srv_;
  unsigned version_ = 11;
  bool busy_ = false;
  bool linger_ = false;
  bool body_unread_ = false;  // a streamed request's body is not read to its end
};

}  // namespace rtrec::http
