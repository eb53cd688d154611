// The server's life: listen, accept connections (each a session,
// session.hpp), drain and stop.
#include "apps/http/server.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <stdexcept>

#include "apps/http/server_impl.hpp"
#include "apps/http/session.hpp"

namespace rtrec::http {

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
