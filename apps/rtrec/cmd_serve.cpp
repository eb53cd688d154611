// rtrec serve: the embedded service behind the HTTP/JSON API (apps/http) on one
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
// (--data-dir, --in-memory to turn it off), and write-back/ the journal of
// recommend's delayed write-backs (apps/http/write_back.hpp).
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
#include <optional>
#include <vector>
#include <stdexcept>
#include <thread>

#include "actors/openssl_error_queue.hpp"
#include "apps/http/server.hpp"
#include "apps/rtrec/commands.hpp"
#include "apps/rtrec/data_dir_lock.hpp"
#include "apps/rtrec/support.hpp"

namespace rtrec::cli {

namespace {

/// rtrec node's cluster settings (see cluster_options for each one).
struct cluster_cli {
  std::vector<std::string> nodes;
  std::uint32_t node = 0;
  std::string bind;
  double heartbeat_s = 1.0;
  double connection_timeout_s = 5.0;
  double connect_timeout_s = 5.0;
  double reconnect_min_s = 0.1;
  double reconnect_max_s = 2.0;
  std::uint32_t replication_factor = 1;
  std::string certificate;
  std::string key;
  std::string cafile;
  std::string passphrase_file;
};

struct serve_options {
  http::server_options server;
  http::api_options api;
  std::size_t max_in_flight_events = 200000;
  std::string api_key_file;
  std::string port_file;
  double shutdown_grace_s = 10.0;
  double read_timeout_s = 15.0;
  durability_cli durability;
  /// Set for rtrec node.
  std::optional<cluster_cli> cluster;
};

std::chrono::milliseconds seconds_ms(double s) {
  return std::chrono::milliseconds(static_cast<long>(s * 1000));
}

cluster_options make_cluster_options(const cluster_cli& c) {
  cluster_options o;
  if (c.nodes.empty())
    throw usage_error("rtrec node: --nodes (or nodes = [...] in the config file) lists no node");
  for (const auto& text : c.nodes) {
    std::string why;
    auto a = engine::parse_node_address(text, why);
    if (!a)
      throw usage_error("rtrec node: --nodes: " + why);
    o.nodes.push_back(*a);
  }
  o.self = c.node;
  o.bind_address = c.bind;
  o.heartbeat = seconds_ms(c.heartbeat_s);
  o.connection_timeout = seconds_ms(c.connection_timeout_s);
  o.connect_timeout = seconds_ms(c.connect_timeout_s);
  o.reconnect_min = seconds_ms(c.reconnect_min_s);
  o.reconnect_max = seconds_ms(std::max(c.reconnect_max_s, c.reconnect_min_s));
  o.replication_factor = c.replication_factor;
  o.certificate = c.certificate;
  o.key = c.key;
  o.cafile = c.cafile;
  if (!c.passphrase_file.empty()) {
    std::ifstream in{c.passphrase_file};
    if (!in || !std::getline(in, o.passphrase))
      throw usage_error("--openssl-passphrase-file " + c.passphrase_file + ": cannot be read");
  }
  try {
    validate(o);
  } catch (const std::invalid_argument& e) {
    throw usage_error(e.what());
  }
  // Links rtrec::tls in (CAF 0.17.6's OpenSSL error-queue bug) and checks it.
  if (o.tls() && !openssl_error_queue_fix_active())
    spdlog::warn("rtrec node: the OpenSSL error-queue fix is not active; a failed TLS handshake "
                 "may drop healthy connections");
  return o;
}

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
  auto eo = make_service_options(common);
  eo.max_in_flight_events = o.max_in_flight_events;
  if (o.cluster) {
    eo.cluster = make_cluster_options(*o.cluster);
    // Each node its own directory by default, so that nodes started side by
    // side in one directory never share one.
    auto durability = o.durability;
    if (durability.data_dir.empty())
      durability.data_dir = "rtrec-data-node" + std::to_string(eo.cluster.self);
    apply_durability(durability, eo);
  } else {
    apply_durability(o.durability, eo);
  }
  if (!eo.durability.data_dir.empty()) {
    // Delayed write-backs of recommend wait in a journal beside the log.
    o.api.write_back.journal_dir = eo.durability.data_dir + "/write-back";
    o.api.write_back.sync = eo.durability.sync;
  }
  if (common.scheduler == "auto") {
    // A server under a recommend flood must keep ingesting: the query lane
    // gave HTTP recommends nothing while holding the ingest path's actors
    // back (docs/benchmarks.md, "HTTP API").
    eo.scheduler_policy = "sharing";
  }
  if (common.max_throughput == 0) {
    // Under sharing, an actor that handles up to 16 queued messages per turn
    // instead of 1 saves a trip through the scheduler (and often a thread
    // wake-up) per message (docs/benchmarks.md, "HTTP API"). Queries still
    // overtake ingest batches inside a shard's mailbox (high priority).
    eo.max_throughput = 16;
  }
  if (common.workers == 0) {
    // One CAF worker per core, beside the HTTP I/O threads: with users of
    // realistic history the engine's scoring, not HTTP, is what a request
    // costs (docs/benchmarks.md, "HTTP API").
    eo.worker_threads = std::max(1u, std::thread::hardware_concurrency());
  }
  std::optional<data_dir_lock> lock;
  if (!eo.durability.data_dir.empty())
    lock.emplace(eo.durability.data_dir);  // rtrec import --data-dir waits for us to stop
  service eng{eo};
  if (eo.cluster.enabled())
    spdlog::info("rtrec node: node {} of a {}-node cluster; {}; cluster status: GET "
                 "/api/cluster",
                 eo.cluster.self, eo.cluster.nodes.size(),
                 eo.durability.data_dir.empty()
                   ? std::string{"in memory (--in-memory: a restarted node starts empty)"}
                   : "log and checkpoints in " + eo.durability.data_dir);
  else if (eo.durability.data_dir.empty())
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
  // A cluster node flushes the shards it hosts (their deltas reach every
  // reachable item shard), not the whole cluster.
  auto flushed = eng.flush_local();
  if (flushed)
    spdlog::info("rtrec serve: flushed; {} events applied in this run", *flushed);
  else
    spdlog::error("rtrec serve: flush failed: {}", flushed.error().to_string());
  srv.stop();
  eng.stop();
  spdlog::info("rtrec serve: stopped");
  return idle && flushed ? 0 : 1;
}

// The HTTP server's options, shared by serve and node.
void add_http_options(CLI::App* cmd, const std::shared_ptr<serve_options>& o) {
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
  cmd->add_option("--max-write-back-pending", o->api.write_back.max_pending_events,
                  "Write-back events (recommend's write-back-delay) waiting for their time "
                  "before more get 503")
    ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 26))->capture_default_str();
  cmd->add_option("--api-key-file", o->api_key_file,
                  "File whose first line is the API key (else $RTREC_API_KEY; unset = no auth)");
  cmd->add_option("--read-timeout", o->read_timeout_s,
                  "Seconds a request may take to arrive, or a connection may stay idle")
    ->check(CLI::Range(0.1, 3600.0))->capture_default_str();
  cmd->add_option("--shutdown-grace", o->shutdown_grace_s,
                  "Seconds to let requests in flight finish on SIGTERM")
    ->check(CLI::Range(0.0, 3600.0))->capture_default_str();
}

}  // namespace

void add_serve_command(CLI::App& root, common_options& common, command_runner& run) {
  auto* cmd = root.add_subcommand(
    "serve", "Serve the HTTP/JSON API (Gorse-compatible) until SIGTERM or SIGINT");
  auto o = std::make_shared<serve_options>();
  add_http_options(cmd, o);
  add_durability_options(*cmd, o->durability, common, "rtrec-data");
  add_common_options(*cmd, common);
  bind_runner(*cmd, run, [o, &common] { return run_serve(*o, common); });
}

namespace {

// CLI11's TOML reader for `rtrec node --config FILE`. CLI11 2.1 reads a
// config file for the root app only and looks a section up as a subcommand,
// so: every setting goes to the node subcommand (parent "node"), and a
// section prefixes its keys ("[openssl] certificate" is the option
// --openssl-certificate). Section open/close markers are dropped: they would
// count as running the subcommand. CLI11 reads the file once the command line
// is parsed; a file given to another command is refused then, before any
// setting is applied (node's options share their variables, the common
// options, with the other commands).
class node_toml : public CLI::ConfigTOML {
 public:
  explicit node_toml(const CLI::App& node) : node_(node) {}

  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    if (!node_.parsed())
      throw CLI::ValidationError("--config", "only rtrec node reads a config file");
    std::vector<CLI::ConfigItem> out;
    for (auto& item : CLI::ConfigTOML::from_config(input)) {
      if (item.name == "++" || item.name == "--")
        continue;
      if (!item.parents.empty())
        item.name = CLI::detail::join(item.parents, "-") + "-" + item.name;
      item.parents = {"node"};
      out.push_back(std::move(item));
    }
    return out;
  }

 private:
  const CLI::App& node_;
};

// --config FILE through CLI11's own config support: a root option (node
// falls through to it) whose settings apply where the option is empty, so a
// flag given on the command line wins. An unknown key is an error naming it
// ("node.key"), like an unknown flag.
void add_node_config(CLI::App& root, CLI::App& node) {
  root.config_formatter(std::make_shared<node_toml>(node));
  root.set_config("--config", "",
                  "rtrec node only: TOML file of settings, `key = value` for --key and "
                  "`[openssl] certificate = x` for --openssl-certificate; flags override it "
                  "(docs/cluster/local.toml)");
  root.allow_config_extras(CLI::config_extras_mode::capture);
  node.allow_config_extras(CLI::config_extras_mode::capture);
  node.fallthrough();
}

}  // namespace

void add_node_command(CLI::App& root, common_options& common, command_runner& run) {
  auto* cmd = root.add_subcommand(
    "node", "Run one node of a cluster: the HTTP/JSON API of serve, with the shards spread "
            "over the nodes (--config FILE, flags override it)");
  auto o = std::make_shared<serve_options>();
  o->cluster.emplace();
  auto& c = *o->cluster;
  add_http_options(cmd, o);
  add_durability_options(*cmd, o->durability, common, "");
  cmd->add_option("--nodes", c.nodes,
                  "Every node's cluster address host:port, the same list on every node")
    ->delimiter(',');
  cmd->add_option("--node", c.node, "This node's index in --nodes (from 0)")
    ->capture_default_str();
  cmd->add_option("--cluster-bind", c.bind,
                  "Interface the cluster port listens on (default: this node's host)");
  cmd->add_option("--replication-factor", c.replication_factor,
                  "Copies of each profile shard (1..node count; above 1 needs --data-dir; item "
                  "shards keep one copy)")
    ->check(CLI::Range(1u, 64u))->capture_default_str();
  cmd->add_option("--heartbeat", c.heartbeat_s, "Seconds between heartbeats to peers")
    ->check(CLI::Range(0.05, 600.0))->capture_default_str();
  cmd->add_option("--connection-timeout", c.connection_timeout_s,
                  "Seconds of silence after which a peer's connection counts as lost")
    ->check(CLI::Range(0.1, 3600.0))->capture_default_str();
  cmd->add_option("--connect-timeout", c.connect_timeout_s,
                  "Seconds one connection attempt to a peer may take")
    ->check(CLI::Range(0.1, 600.0))->capture_default_str();
  cmd->add_option("--reconnect-min", c.reconnect_min_s,
                  "Seconds before the first retry to an unreachable peer (doubles per failure)")
    ->check(CLI::Range(0.01, 600.0))->capture_default_str();
  cmd->add_option("--reconnect-max", c.reconnect_max_s, "Longest wait between retries (seconds)")
    ->check(CLI::Range(0.01, 3600.0))->capture_default_str();
  cmd->add_option("--openssl-certificate", c.certificate,
                  "TLS between nodes: this node's certificate chain (PEM); config: "
                  "[openssl] certificate");
  cmd->add_option("--openssl-key", c.key, "TLS: this node's private key (PEM)");
  cmd->add_option("--openssl-cafile", c.cafile,
                  "TLS: the CA certificate that signed every node's certificate (PEM)");
  cmd->add_option("--openssl-passphrase-file", c.passphrase_file,
                  "TLS: file whose first line is the key's passphrase");
  add_common_options(*cmd, common);
  add_node_config(root, *cmd);
  bind_runner(*cmd, run, [o, &common] { return run_serve(*o, common); });
}

}  // namespace rtrec::cli
