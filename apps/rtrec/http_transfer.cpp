// Streamed HTTP transfers of rtrec import/export (see http_transfer.hpp).
#include "apps/rtrec/http_transfer.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <array>
#include <stdexcept>

#include "apps/rtrec/support.hpp"

namespace rtrec::cli {

namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr std::size_t piece_bytes = 64 * 1024;
constexpr std::size_t max_error_body = 64 * 1024;

// A connection to the server.
struct connection {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;

  explicit connection(const server_url& u) {
    beast::error_code ec;
    tcp::resolver resolver{ioc};
    auto endpoints = resolver.resolve(u.host, u.port, ec);
    if (!ec)
      stream.connect(endpoints, ec);
    if (ec)
      throw std::runtime_error("cannot reach http://" + u.host + ":" + u.port + ": " +
                               ec.message() + " (is rtrec serve running there? see --url)");
  }
};

template <class Request>
void set_headers(Request& req, const server_url& u, const header_list& headers) {
  req.set(bhttp::field::host, u.host + ":" + u.port);
  req.set(bhttp::field::user_agent, "rtrec-cli");
  for (const auto& [k, v] : headers)
    req.set(k, v);
}

http_answer read_answer(connection& c) {
  bhttp::response_parser<bhttp::string_body> p;
  p.body_limit(max_error_body * 16);
  beast::error_code ec;
  bhttp::read(c.stream, c.buffer, p, ec);
  if (ec)
    throw std::runtime_error("the server closed the connection without an answer: " +
                             ec.message());
  return {static_cast<int>(p.get().result_int()), std::move(p.get().body())};
}

}  // namespace

server_url parse_server_url(const std::string& url) {
  constexpr std::string_view scheme = "http://";
  if (url.rfind("https://", 0) == 0)
    throw usage_error("--url " + url + ": https is not supported; use plain HTTP (on loopback, "
                                       "or through a TLS proxy)");
  if (url.rfind(scheme, 0) != 0)
    throw usage_error("--url " + url + ": expected http://host:port");
  auto rest = url.substr(scheme.size());
  server_url u;
  const auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  if (slash != std::string::npos)
    u.prefix = rest.substr(slash);
  while (!u.prefix.empty() && u.prefix.back() == '/')
    u.prefix.pop_back();
  const auto colon = authority.rfind(':');
  u.host = authority.substr(0, colon);
  u.port = colon == std::string::npos ? "80" : authority.substr(colon + 1);
  if (u.host.empty() || u.port.empty() ||
      !std::all_of(u.port.begin(), u.port.end(), [](char c) { return c >= '0' && c <= '9'; }))
    throw usage_error("--url " + url + ": expected http://host:port");
  return u;
}

http_answer upload(const server_url& u, const std::string& target, std::istream& in,
                   const header_list& headers, const std::function<void(std::uint64_t)>& sent) {
  connection c{u};
  bhttp::request<bhttp::empty_body> req{bhttp::verb::post, u.prefix + target, 11};
  set_headers(req, u, headers);
  req.chunked(true);
  bhttp::request_serializer<bhttp::empty_body> sr{req};
  beast::error_code ec;
  bhttp::write_header(c.stream, sr, ec);
  std::vector<char> buf(piece_bytes);
  std::uint64_t total = 0;
  bool refused = false;
  while (!ec && in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = static_cast<std::size_t>(in.gcount());
    if (n == 0)
      break;
    net::write(c.stream, bhttp::make_chunk(net::buffer(buf.data(), n)), ec);
    total += n;
    sent(total);
    // An answer before the end of the body is a refusal: stop sending.
    refused = !ec && c.stream.socket().available() > 0;
    if (refused)
      break;
  }
  if (!ec && !refused)
    net::write(c.stream, bhttp::make_chunk_last(), ec);
  return read_answer(c);  // also after a failed write: the server may have answered
}

http_answer download(const server_url& u, const std::string& target, std::ostream& out,
                     const header_list& headers,
                     const std::function<void(std::uint64_t, std::uint64_t)>& got) {
  connection c{u};
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, u.prefix + target, 11};
  set_headers(req, u, headers);
  bhttp::write(c.stream, req);
  bhttp::response_parser<bhttp::buffer_body> p;
  p.body_limit(~std::uint64_t{0});  // not boost::none: Beast 1.74 then refuses a Content-Length
  beast::error_code ec;
  bhttp::read_header(c.stream, c.buffer, p, ec);
  if (ec)
    throw std::runtime_error("the server closed the connection without an answer: " +
                             ec.message());
  http_answer answer{static_cast<int>(p.get().result_int()), {}};
  std::array<char, piece_bytes> buf;
  std::uint64_t bytes = 0, lines = 0;
  while (!p.is_done()) {
    p.get().body().data = buf.data();
    p.get().body().size = buf.size();
    bhttp::read(c.stream, c.buffer, p, ec);
    if (ec == bhttp::error::need_buffer)
      ec = {};
    if (ec)
      throw std::runtime_error("the answer was cut short after " + std::to_string(bytes) +
                               " bytes: " + ec.message() + "; the export is incomplete");
    const auto n = buf.size() - p.get().body().size;
    if (answer.status != 200) {
      answer.body.append(buf.data(), std::min(n, max_error_body - answer.body.size()));
      continue;
    }
    out.write(buf.data(), static_cast<std::streamsize>(n));
    bytes += n;
    lines += static_cast<std::uint64_t>(std::count(buf.data(), buf.data() + n, '\n'));
    got(bytes, lines);
  }
  return answer;
}

http_answer get(const server_url& u, const std::string& target, const header_list& headers) {
  connection c{u};
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, u.prefix + target, 11};
  set_headers(req, u, headers);
  bhttp::write(c.stream, req);
  return read_answer(c);
}

}  // namespace rtrec::cli
