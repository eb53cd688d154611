// rtrec serve: the embedded engine behind the HTTP/JSON API (apps/http) on one
// node. Start-up and shutdown order, written out:
//
//   block SIGTERM/SIGINT (every thread inherits the mask; only sigwait below
//   sees them) -> recover the data directory (newest checkpoint + log) and
//   start the engine -> bind and serve HTTP -> write --port-file
//   -> sigwait -> drain HTTP (stop accepting, finish in-flight requests, up to
//   --shutdown-grace) -> flush the engine (item side caught up) -> stop HTTP
//   -> stop the engine (final checkpoint, log closed) -> exit 0.
//
// Durable by default: ./rtrec-data holds the write-ahead log and checkpoints
// (--data-dir, --in-memory to turn it off).
//
// The API key comes from the environment (RTREC_API_KEY) or a file
// (--api-key-file), never from the command line where `ps` would show it.
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <thread>

#include "apps/http/server.hpp"
#include "apps/rtrec/commands.hpp"
#include "apps/rtrec/support.hpp"

namespace rtrec::cli {

namespace {

struct serve_options {
  http::server_options server;
  http::api_options api;
  std::size_t max_in_flight_events = 200000;
  std::string api_key_file;
  std::string port_file;
  double shutdown_grace_s = 10.0;
  double read_timeout_s = 15.0;
  durability_cli durability;
};

std::optional<std::string> load_api_key(const serve_options& o) {
  if (!o.api_key_file.empty()) {
    std::ifstream in{o.api_key_file};
    if (!in)
      throw usage_error("--api-key-file " + o.api_key_file + ": cannot be read");
    std::string key;
    std::getline(in, key);
    while (!key.empty() && (key.back() == '\r' || key.back() == ' '))
      key.pop_back();
    if (key.empty())
      throw usage_error("--api-key-file " + o.api_key_file + ": the first line is empty");
    return key;
  }
  if (const char* env = std::getenv("RTREC_API_KEY"); env != nullptr && *env != '\0')
    return std::string{env};
  return std::nullopt;
}

void write_port_file(const std::string& path, std::uint16_t port) {
  // Written under a temporary name and renamed: a reader never sees half.
  const auto tmp = path + ".tmp";
  {
    std::ofstream out{tmp, std::ios::trunc};
    out << port << '\n';
    if (!out)
      throw std::runtime_error("--port-file " + path + ": cannot be written");
  }
  std::filesystem::rename(tmp, path);
}

int run_serve(serve_options o, const common_options& common) {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  o.api.api_key = load_api_key(o);
  o.api.limits.ids = make_model_config(common).limits;
  o.server.read_timeout = std::chrono::milliseconds(static_cast<long>(o.read_timeout_s * 1000));
  auto eo = make_engine_options(common);
  eo.max_in_flight_events = o.max_in_flight_events;
  apply_durability(o.durability, eo);
  if (common.workers == 0) {
    // Leave the HTTP I/O threads their cores: on 2 cores one CAF worker
    // serves 1.4x the requests of two (docs/benchmarks.md).
    const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
    eo.worker_threads = cores > o.server.io_threads ? cores - o.server.io_threads : 1;
  }
  embedded_engine eng{eo};
  if (eo.durability.data_dir.empty())
    spdlog::warn("rtrec serve: in memory only (--in-memory): nothing survives a restart");
  http::server srv{eng, o.server, o.api};
  if (!o.port_file.empty())
    write_port_file(o.port_file, srv.port());
  spdlog::info("rtrec serve: ready on http://{}:{} (API key {}; {} engine threads, {} HTTP "
               "threads). Try:",
               o.server.address, srv.port(), o.api.api_key ? "required" : "off",
               eo.worker_threads, o.server.io_threads);
  spdlog::info("  curl -X POST -H 'Content-Type: application/json' -d "
               "'[{{\"FeedbackType\":\"like\",\"UserId\":\"alice\",\"ItemId\":\"book-1\"}}]' "
               "http://{}:{}/api/feedback",
               o.server.address, srv.port());
  spdlog::info("  curl http://{}:{}/api/recommend/alice?n=10", o.server.address, srv.port());

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("rtrec serve: {} received, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  const auto grace = std::chrono::milliseconds(static_cast<long>(o.shutdown_grace_s * 1000));
  const bool idle = srv.drain(grace);
  auto flushed = eng.flush();
  if (flushed)
    spdlog::info("rtrec serve: flushed; {} events applied in this run", *flushed);
  else
    spdlog::error("rtrec serve: flush failed: {}", eng.system().render(flushed.error()));
  srv.stop();
  eng.stop();
  spdlog::info("rtrec serve: stopped");
  return idle && flushed ? 0 : 1;
}

}  // namespace

void add_serve_command(CLI::App& root, common_options& common, command_runner& run) {
  auto* cmd = root.add_subcommand(
    "serve", "Serve the HTTP/JSON API (Gorse-compatible) until SIGTERM or SIGINT");
  auto o = std::make_shared<serve_options>();
  cmd->add_option("--address", o->server.address, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", o->server.port, "Port to listen on (0 = any free port)")
    ->capture_default_str();
  cmd->add_option("--port-file", o->port_file,
                  "Write the port actually bound to this file once listening");
  cmd->add_option("--io-threads", o->server.io_threads, "Threads parsing and writing HTTP")
    ->check(CLI::Range(std::size_t{1}, std::size_t{64}))->capture_default_str();
  cmd->add_option("--max-body", o->server.max_body_bytes,
                  "Largest request body in bytes (larger: 413)")
    ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 30))->capture_default_str();
  cmd->add_option("--max-connections", o->server.max_connections,
                  "Open connections before new ones get 503")
    ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}))->capture_default_str();
  cmd->add_option("--max-in-flight-events", o->max_in_flight_events,
                  "Events accepted and not yet applied before feedback gets 503")
    ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30))->capture_default_str();
  cmd->add_option("--max-queries", o->api.max_queries_in_flight,
                  "Queries waiting on the engine before new ones get 503")
    ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24))->capture_default_str();
  cmd->add_option("--max-feedback", o->api.limits.max_array,
                  "Feedback or items per request (more: 413)")
    ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}))->capture_default_str();
  cmd->add_option("--api-key-file", o->api_key_file,
                  "File whose first line is the API key (else $RTREC_API_KEY; unset = no auth)");
  cmd->add_option("--read-timeout", o->read_timeout_s,
                  "Seconds a request may take to arrive, or a connection may stay idle")
    ->check(CLI::Range(0.1, 3600.0))->capture_default_str();
  add_durability_options(*cmd, o->durability, common, "rtrec-data");
  cmd->add_option("--shutdown-grace", o->shutdown_grace_s,
                  "Seconds to let requests in flight finish on SIGTERM")
    ->check(CLI::Range(0.0, 3600.0))->capture_default_str();
  add_common_options(*cmd, common);
  bind_runner(*cmd, run, [o, &common] { return run_serve(*o, common); });
}

}  // namespace rtrec::cli
