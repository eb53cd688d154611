// The HTTP server (Boost.Beast): accepts connections on one address, reads
// requests with hard limits on header and body size (for every framing,
// chunked included), hands them to the api and writes its responses, keeping
// connections alive between requests.
//
// Life cycle:
//
//   server(...)  -- binds and starts serving (throws when it cannot bind)
//      |
//   drain(grace) -- stops accepting; readiness answers 503; idle connections
//      |            close; waits up to `grace` for requests in flight
//   stop()       -- waits for every request still in flight (the engine
//                   answers or times out each one), then stops the I/O
//                   threads. Idempotent; the destructor calls it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "rtrec/rtrec.hpp"
#include "apps/http/api.hpp"
#include "apps/http/metrics.hpp"

namespace rtrec::http {

struct server_options {
  std::string address = "127.0.0.1";
  std::uint16_t port = 8087;            ///< 0 = any free port (see port())
  std::size_t io_threads = 1;           ///< threads parsing and writing HTTP
  std::size_t blocking_threads = 2;     ///< threads for calls that wait on the engine
  std::size_t max_body_bytes = 8u << 20;
  std::size_t max_header_bytes = 16u << 10;
  std::size_t max_connections = 1024;   ///< more are answered 503 and closed
  /// A request must arrive in full, and an idle keep-alive connection sends
  /// its next request, within this time; else the connection is closed.
  std::chrono::milliseconds read_timeout{15000};
};

class server {
 public:
  /// Binds `so.address:so.port` and starts serving `eng` (which must outlive
  /// the server). Throws std::runtime_error naming the address when it
  /// cannot listen.
  server(service& eng, server_options so, api_options ao);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// The port actually bound.
  std::uint16_t port() const noexcept;
  /// See the life cycle above. Returns true when nothing was left in flight.
  bool drain(std::chrono::milliseconds grace);
  void stop();

  metrics& counters() noexcept;
  /// The delayed write-backs of recommend (tests run them after moving the clock).
  write_back_queue& write_backs() noexcept;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace rtrec::http
