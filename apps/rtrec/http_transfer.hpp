// The client side of `rtrec import` and `rtrec export` against a running
// server (Boost.Beast, blocking, plain HTTP): an upload streamed from a
// file in HTTP chunks, a download streamed to a file, both in 64 KiB pieces
// (memory stays bounded whatever the size), and a small GET.
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace rtrec::cli {

/// "http://host[:port][/prefix]" split up (port 80 when none is given).
struct server_url {
  std::string host;
  std::string port;
  std::string prefix;  ///< without a trailing slash ("" for none)
};

/// Parses --url. Throws usage_error naming what is wrong (https is not
/// supported: put a TLS proxy in front, or use plain HTTP on loopback).
server_url parse_server_url(const std::string& url);

using header_list = std::vector<std::pair<std::string, std::string>>;

/// A response: its status and, unless streamed elsewhere, its body.
struct http_answer {
  int status = 0;
  std::string body;
};

/// POSTs the rest of `in` to `target` as a chunked body; `sent(bytes)` is
/// called after each piece. When the server answers before the body is
/// sent whole (it refused it), sending stops and that answer is returned.
/// Throws std::runtime_error when the server cannot be reached or closes
/// without an answer.
http_answer upload(const server_url& url, const std::string& target, std::istream& in,
                   const header_list& headers, const std::function<void(std::uint64_t)>& sent);

/// GETs `target`: a 200 body goes to `out` as it arrives (`got(bytes,
/// newlines)` after each piece); another status's body (at most 64 KiB) is
/// returned in the answer. Throws std::runtime_error when the server cannot
/// be reached or the body is cut short (the export is then incomplete).
http_answer download(const server_url& url, const std::string& target, std::ostream& out,
                     const header_list& headers,
                     const std::function<void(std::uint64_t, std::uint64_t)>& got);

/// GETs `target` and returns the whole answer.
http_answer get(const server_url& url, const std::string& target, const header_list& headers);

}  // namespace rtrec::cli
