// The server's state, shared by server.cpp (listening, drain, stop) and
// session.cpp (one connection). Private to the server.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "apps/http/api.hpp"
#include "apps/http/metrics.hpp"
#include "apps/http/server.hpp"

namespace rtrec::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

class session;

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

}  // namespace rtrec::http
