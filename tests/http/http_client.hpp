// A small blocking HTTP/1.1 client for the end-to-end tests (Boost.Beast over
// a real loopback TCP connection): keep-alive requests, raw bytes for
// malformed input, and the response's status, headers and body.
#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cctype>
#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace rtrec::testing {

struct http_reply {
  int status = 0;  ///< 0 = no response (connection closed or timed out)
  std::string body;
  std::map<std::string, std::string> headers;  ///< names in lower case
  bool keep_alive = false;

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string{} : it->second;
  }
};

class http_client {
 public:
  explicit http_client(std::uint16_t port) : stream_(ioc_) {
    namespace net = boost::asio;
    stream_.expires_after(std::chrono::seconds(30));
    stream_.connect(net::ip::tcp::endpoint{net::ip::make_address("127.0.0.1"), port});
  }

  /// Sends one request on the connection and reads its response.
  http_reply request(const std::string& method, const std::string& target,
                     const std::string& body = {},
                     const std::vector<std::pair<std::string, std::string>>& headers = {{
                       "Content-Type", "application/json"}}) {
    namespace http = boost::beast::http;
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (const auto& [k, v] : headers)
      req.set(k, v);
    req.body() = body;
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")
      req.prepare_payload();
    stream_.expires_after(std::chrono::seconds(60));
    boost::beast::error_code ec;
    http::write(stream_, req, ec);
    if (ec)
      return {};
    return read();
  }

  /// Writes `bytes` as they are, then reads one response.
  http_reply raw(const std::string& bytes) {
    boost::beast::error_code ec;
    stream_.expires_after(std::chrono::seconds(60));
    boost::asio::write(stream_.socket(), boost::asio::buffer(bytes), ec);
    return read();
  }

  /// Reads one response (status 0 if the server closed instead).
  http_reply read() {
    namespace http = boost::beast::http;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1u << 30);
    boost::beast::error_code ec;
    stream_.expires_after(std::chrono::seconds(60));
    http::read(stream_, buffer_, parser, ec);
    if (ec)
      return {};
    auto res = parser.release();
    http_reply out;
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    out.keep_alive = res.keep_alive();
    for (const auto& f : res) {
      std::string name{f.name_string()};
      for (auto& ch : name)
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      out.headers[name] = std::string{f.value()};
    }
    return out;
  }

  /// True when the server has closed the connection (reads EOF).
  bool closed_by_server() {
    boost::beast::error_code ec;
    char c;
    stream_.expires_after(std::chrono::seconds(30));
    stream_.socket().read_some(boost::asio::buffer(&c, 1), ec);
    return static_cast<bool>(ec);
  }

 private:
  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
};

}  // namespace rtrec::testing
