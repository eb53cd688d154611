#include "apps/http/server.hpp"

#include <absl/strings/match.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>
#include <list>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace rtrec::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

class session;

}  // namespace

struct server::impl {
  // Declared first, destroyed last: connections still queued in the
  // io_context count themselves out when it is destroyed.
  metrics counters;
  server_options opts;
  net::io_context ioc;
  // Keeps the I/O threads running while requests wait on the engine with no
  // socket operation pending (after drain closed everything else).
  net::executor_work_guard<net::io_context::executor_type> work;
  tcp::acceptor acceptor;
  net::thread_pool blocking;
  api handler;
  std::vector<std::thread> threads;
  std::atomic<bool> draining{false};
  std::mutex sessions_mtx;
  std::list<std::weak_ptr<session>> sessions;
  bool stopped = false;
  std::uint16_t port = 0;

  impl(service& eng, server_options so, api_options ao)
    : counters(),
      opts(std::move(so)),
      ioc(static_cast<int>(std::max<std::size_t>(1, opts.io_threads))),
      work(net::make_work_guard(ioc)),
      acceptor(net::make_strand(ioc)),
      blocking(std::max<std::size_t>(1, opts.blocking_threads)),
      handler(eng, std::move(ao), counters,
              [this](std::function<void()> task) { net::post(blocking, std::move(task)); }) {
  }

  void accept();
};

namespace {

// One connection: read a request, let the api answer it, write the answer,
// repeat while the connection is kept alive. All of its handlers run on its
// strand.
class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket&& socket, server::impl& srv) : stream_(std::move(socket)), srv_(srv) {
    srv_.counters.connections.fetch_add(1, std::memory_order_relaxed);
  }
  ~session() { srv_.counters.connections.fetch_sub(1, std::memory_order_relaxed); }

  void start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

  // Answers 503 at once and closes (too many connections).
  void refuse() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      auto r = api::error(503, "too many open connections; retry shortly");
      r.headers.emplace_back("Retry-After", "1");
      self->write(std::move(r), 11, true);
    });
  }

  // On drain: closes the connection unless a request is being handled.
  void close_if_idle() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->busy_) {
        beast::error_code ec;
        self->stream_.socket().cancel(ec);
      }
    });
  }

 private:
  void read() {
    if (srv_.draining.load())
      return close();
    parser_.emplace();
    parser_->body_limit(srv_.opts.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(srv_.opts.max_header_bytes));
    stream_.expires_after(srv_.opts.read_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        self->on_read(ec);
                      });
  }

  void on_read(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == net::error::operation_aborted ||
        ec == beast::error::timeout || ec == net::error::connection_reset ||
        ec == net::error::eof)
      return close();
    const unsigned version = parser_->get().version() == 10 ? 10 : 11;
    if (ec) {
      if (ec == bhttp::error::body_limit)
        return fail(413, fmt::format("request body larger than {} bytes",
                                     srv_.opts.max_body_bytes), version);
      if (ec == bhttp::error::header_limit)
        return fail(431, fmt::format("request header larger than {} bytes",
                                     srv_.opts.max_header_bytes), version);
      if (ec == bhttp::error::bad_transfer_encoding)
        return fail(415, "unsupported Transfer-Encoding: send Content-Length or chunked",
                    version);
      return fail(400, "malformed HTTP request: " + ec.message(), version);
    }
    auto req = parser_->release();
    const bool keep = req.keep_alive();
    if (auto te = req[bhttp::field::transfer_encoding]; !te.empty()) {
      // Beast decodes chunked; anything else layered on it (gzip, ...) is
      // not supported.
      if (!absl::EqualsIgnoreCase(absl::string_view{te.data(), te.size()}, "chunked"))
        return fail(415, "unsupported Transfer-Encoding " + std::string{te.substr(0, 64)} +
                           ": send Content-Length or chunked",
                    version);
    }
    request r;
    r.method = std::string{req.method_string()};
    r.target = std::string{req.target()};
    r.body = std::move(req.body());
    if (auto it = req.find("X-API-Key"); it != req.end())
      r.api_key = std::string{it->value()};
    r.content_type = std::string{req[bhttp::field::content_type]};
    r.content_encoding = std::string{req[bhttp::field::content_encoding]};
    r.api_version = std::string{req["X-API-Version"]};
    busy_ = true;
    stream_.expires_never();
    srv_.handler.handle(std::move(r), [self = shared_from_this(), keep, version](response res) {
      net::post(self->stream_.get_executor(), [self, keep, version, res = std::move(res)]() mutable {
        self->write(std::move(res), version, !keep || self->srv_.draining.load());
      });
    });
  }

  // Answers a request that could not be read, then closes after letting the
  // client finish sending (so it sees the answer, not a reset).
  void fail(int status, const std::string& message, unsigned version) {
    linger_ = true;
    write(api::error(status, message), version, true);
  }

  void write(response r, unsigned version, bool close_after) {
    res_ = {};
    res_.version(version);
    res_.result(static_cast<bhttp::status>(r.status));
    res_.set(bhttp::field::content_type, r.content_type);
    for (auto& [k, v] : r.headers)
      res_.set(k, v);
    res_.keep_alive(!close_after);
    res_.body() = std::move(r.body);
    res_.prepare_payload();
    stream_.expires_after(srv_.opts.read_timeout);
    bhttp::async_write(stream_, res_,
                       [self = shared_from_this(), close_after](beast::error_code ec, std::size_t) {
                         self->busy_ = false;
                         if (ec || close_after)
                           return self->linger_ ? self->linger() : self->close();
                         self->read();
                       });
  }

  void linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(std::chrono::seconds(2));
    drain_more(0);
  }

  void drain_more(std::size_t drained) {
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

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::string_body> res_;
  std::array<char, 8192> scratch_{};
  server::impl& srv_;
  bool busy_ = false;
  bool linger_ = false;
};

}  // namespace

void server::impl::accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor.is_open())
        return;
      spdlog::warn("http: accept failed: {}", ec.message());
      return accept();
    }
    auto s = std::make_shared<session>(std::move(socket), *this);
    if (static_cast<std::size_t>(counters.connections.load()) > opts.max_connections) {
      counters.connections_refused.Increment();
      s->refuse();
    } else {
      {
        std::lock_guard<std::mutex> guard{sessions_mtx};
        sessions.remove_if([](const std::weak_ptr<session>& w) { return w.expired(); });
        sessions.push_back(s);
      }
      s->start();
    }
    accept();
  });
}

server::server(service& eng, server_options so, api_options ao)
  : impl_(std::make_shared<impl>(eng, std::move(so), std::move(ao))) {
  auto& im = *impl_;
  beast::error_code ec;
  auto addr = net::ip::make_address(im.opts.address, ec);
  if (ec)
    throw std::runtime_error(fmt::format("cannot listen on {}: not an IP address; give one such "
                                         "as 127.0.0.1 with --address",
                                         im.opts.address));
  tcp::endpoint ep{addr, im.opts.port};
  im.acceptor.open(ep.protocol(), ec);
  if (!ec)
    im.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec)
    im.acceptor.bind(ep, ec);
  if (!ec)
    im.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error(fmt::format("cannot listen on {}:{}: {}; pick another --port or "
                                         "stop what uses it",
                                         im.opts.address, im.opts.port, ec.message()));
  im.port = im.acceptor.local_endpoint().port();
  im.accept();
  for (std::size_t k = 0; k < std::max<std::size_t>(1, im.opts.io_threads); ++k)
    im.threads.emplace_back([&im] { im.ioc.run(); });
  spdlog::info("http: listening on {}:{} ({} I/O threads)", im.opts.address, im.port,
               im.threads.size());
}

server::~server() {
  stop();
}

std::uint16_t server::port() const noexcept {
  return impl_->port;
}

metrics& server::counters() noexcept {
  return impl_->counters;
}

write_back_queue& server::write_backs() noexcept {
  return impl_->handler.write_backs();
}

namespace {

bool wait_idle(const metrics& m, std::chrono::steady_clock::time_point deadline) {
  // Shutdown only: a short poll keeps the request path free of any
  // synchronization for this rare moment.
  while (m.requests_in_flight.load(std::memory_order_acquire) > 0) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace

bool server::drain(std::chrono::milliseconds grace) {
  auto& im = *impl_;
  if (im.draining.exchange(true))
    return wait_idle(im.counters, std::chrono::steady_clock::now() + grace);
  im.handler.set_draining(true);
  net::post(im.acceptor.get_executor(), [&im] {
    beast::error_code ec;
    im.acceptor.close(ec);
  });
  {
    std::lock_guard<std::mutex> guard{im.sessions_mtx};
    for (auto& w : im.sessions)
      if (auto s = w.lock())
        s->close_if_idle();
  }
  const bool idle = wait_idle(im.counters, std::chrono::steady_clock::now() + grace);
  spdlog::info("http: stopped accepting; {}", idle ? "no request left in flight"
                                                   : "requests still in flight after the grace "
                                                     "period");
  return idle;
}

void server::stop() {
  auto& im = *impl_;
  if (im.stopped)
    return;
  im.stopped = true;
  drain(std::chrono::milliseconds(0));
  // Every request in flight gets its answer from the engine (or a timeout),
  // so this ends; only then may the I/O go away under the connections.
  if (!wait_idle(im.counters, std::chrono::steady_clock::now() + std::chrono::minutes(2)))
    spdlog::error("http: stopping with requests still in flight");
  im.handler.stop_background();
  im.blocking.join();
  im.work.reset();
  im.ioc.stop();
  for (auto& t : im.threads)
    t.join();
  im.threads.clear();
}

}  // namespace rtrec::http
