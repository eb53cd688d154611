// Bootstrap of cluster mode: what a service does to run as one node of a
// cluster (configure CAF's network layer, place the shards, start and
// publish the node's cluster manager), and the checks and helpers around it.
// The manager itself is in cluster.cpp.
#include "actors/cluster.hpp"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <stdexcept>
#include <string_view>

#include "actors/map_keeper.hpp"


namespace rtrec {

void validate(const cluster_options& o) {
  if (!o.enabled())
    return;
  if (o.self >= o.nodes.size())
    throw std::invalid_argument("cluster: this node's index " + std::to_string(o.self)
                                + " is not in the node list (" + std::to_string(o.nodes.size())
                                + " nodes; indices start at 0)");
  std::set<std::string> seen;
  for (const auto& n : o.nodes)
    if (!seen.insert(n.to_string()).second)
      throw std::invalid_argument("cluster: node " + n.to_string()
                                  + " is listed twice; every node needs its own host:port");
  const bool any_tls = o.tls();
  if (o.replication_factor == 0 || o.replication_factor > o.nodes.size())
    throw std::invalid_argument("cluster: replication factor " + std::to_string(o.replication_factor)
                                + " needs between 1 and " + std::to_string(o.nodes.size())
                                + " (the node count)");
  if (any_tls && (o.certificate.empty() || o.key.empty() || o.cafile.empty()))
    throw std::invalid_argument(
      "cluster: TLS needs all of openssl.certificate, openssl.key and openssl.cafile (got "
      + std::string{o.certificate.empty() ? "no" : "a"} + " certificate, "
      + (o.key.empty() ? "no" : "a") + " key, " + (o.cafile.empty() ? "no" : "a") + " CA file)");
  if (!any_tls) {
    for (const auto& n : o.nodes)
      if (!engine::is_loopback_host(n.host))
        throw std::invalid_argument(
          "cluster: node " + n.to_string()
          + " is not on a loopback address, and no TLS is configured: nodes would talk in "
            "clear text without authentication. Set openssl.certificate, openssl.key and "
            "openssl.cafile (a CA that signed every node's certificate; see README, "
            "\"Cluster mode\"), or run every node on 127.0.0.1");
    if (!o.bind_address.empty() && !engine::is_loopback_host(o.bind_address))
      throw std::invalid_argument("cluster: bind address " + o.bind_address
                                  + " is not loopback and no TLS is configured; set "
                                    "openssl.certificate, openssl.key and openssl.cafile");
  }
}

caf::expected<std::uint16_t> publish_endpoint(caf::actor_system& sys, const cluster_options& o,
                                              const caf::actor& endpoint) {
  const auto& me = o.nodes[o.self];
  const auto& bind = o.bind_address.empty() ? me.host : o.bind_address;
  auto r = o.tls() ? caf::openssl::publish(endpoint, me.port, bind.c_str(), true)
                   : sys.middleman().publish(endpoint, me.port, bind.c_str(), true);
  if (!r)
    return caf::make_error(error_code::invalid_request,
                           "cannot listen for peers on " + bind + ":" + std::to_string(me.port)
                             + ": " + sys.render(r.error())
                             + " (is another process using the port?)");
  return r;
}

std::vector<engine::node_address> free_loopback_nodes(std::size_t n) {
  std::vector<int> fds;
  std::vector<engine::node_address> out;
  for (std::size_t k = 0; k < n; ++k) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
      break;
    fds.push_back(fd);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0
        || ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      break;
    out.push_back({"127.0.0.1", ntohs(a.sin_port)});
  }
  for (int fd : fds)
    ::close(fd);
  if (out.size() != n)
    throw std::runtime_error("free_loopback_nodes: cannot bind a loopback socket");
  return out;
}

caf::io::middleman_actor connector_of(caf::actor_system& sys, const cluster_options& o) {
  return o.tls() ? sys.openssl_manager().actor_handle() : sys.middleman().actor_handle();
}

namespace {

// Whether the process's SSL_read is not libssl's own: the error-queue fix
// (rtrec::tls, actors/openssl_error_queue.cpp) is linked in. Checked here
// without referring to it, so that embedders without TLS do not get it.
bool openssl_fix_linked() {
  void* f = dlsym(RTLD_DEFAULT, "SSL_read");
  Dl_info info{};
  return f != nullptr && dladdr(f, &info) != 0 && info.dli_fname != nullptr
         && std::string_view{info.dli_fname}.find("libssl") == std::string_view::npos;
}

}  // namespace

void configure_cluster(caf::actor_system_config& cfg, const cluster_options& o) {
  validate(o);
  cfg.load<caf::io::middleman>();
  if (o.tls()) {
    if (!openssl_fix_linked())
      spdlog::warn("cluster: the OpenSSL error-queue fix (rtrec::tls) is not linked into this "
                   "process; a failed TLS handshake may drop healthy connections (CAF 0.17.6 "
                   "bug): link rtrec::tls and call rtrec::openssl_error_queue_fix_active()");
    cfg.load<caf::openssl::manager>();
    cfg.openssl_certificate = o.certificate;
    cfg.openssl_key = o.key;
    cfg.openssl_cafile = o.cafile;
    cfg.openssl_passphrase = o.passphrase;
  }
  cfg.set("middleman.heartbeat-interval", caf::timespan{o.heartbeat});
  // CAF 0.17.6 drops healthy TLS connections at the first heartbeat check
  // when its connection timeout is on (seen on every run here), so with
  // TLS it stays off and the cluster manager's own pings
  // (connection_timeout) notice frozen peers in both modes.
  cfg.set("middleman.connection-timeout",
          o.tls() ? caf::timespan{std::chrono::hours(24 * 365)}
                  : caf::timespan{o.connection_timeout});
}

engine::cluster_map first_map(const cluster_options& o, const topology_config& tc) {
  auto m = engine::initial_map(o.nodes, tc.profile_shards, tc.item_shards, o.replication_factor);
  m.items = engine::initial_map(o.nodes, tc.profile_shards, tc.item_shards, 1).items;
  return m;
}

std::shared_ptr<cluster_shared> plan_cluster(const cluster_options& o, topology_config& tc) {
  auto map = engine::place_shards(o.nodes, tc.profile_shards, tc.item_shards);
  tc.local_profiles.assign(tc.profile_shards, false);
  tc.local_items.assign(tc.item_shards, false);
  tc.replicated_profiles = o.replication_factor > 1;
  const auto first = first_map(o, tc);
  for (std::uint32_t s = 0; s < tc.profile_shards; ++s) {
    const auto& r = first.profiles[s].replicas;
    tc.local_profiles[s] = std::find(r.begin(), r.end(), o.self) != r.end();
  }
  for (auto m : map.items_of(o.self))
    tc.local_items[m] = true;
  auto shared = std::make_shared<cluster_shared>();
  auto& cs = shared->status;
  cs.enabled = true;
  cs.self = o.self;
  cs.tls = o.tls();
  cs.map = std::move(map);
  for (std::uint32_t n = 0; n < o.nodes.size(); ++n) {
    node_status ns;
    ns.address = o.nodes[n];
    ns.self = ns.up = n == o.self;
    cs.nodes.push_back(std::move(ns));
  }
  return shared;
}

caf::actor start_cluster_node(caf::actor_system& sys, const cluster_options& o, const topology& t,
                              item_writer_actor writer, std::shared_ptr<cluster_shared> shared,
                              const std::string& data_dir) {
  map_keeper_config kc;
  kc.self = o.self;
  kc.initial = first_map(o, t.config);
  kc.data_dir = data_dir;
  kc.proposal_timeout = o.connection_timeout;
  kc.startup_grace = o.connection_timeout;
  auto keeper = spawn_map_keeper(sys, std::move(kc));  // throws for a foreign CLUSTER file
  auto local = local_directory(t, o.self);
  local.keeper = caf::actor_cast<caf::strong_actor_ptr>(keeper);
  if (!t.items.empty() && t.items.front())
    local.meta_writer = caf::actor_cast<caf::strong_actor_ptr>(writer);
  {
    std::lock_guard<std::mutex> guard{shared->mtx};
    shared->directory = local;
  }
  std::vector<caf::actor> targets;
  for (auto& a : t.ingestors)
    targets.push_back(caf::actor_cast<caf::actor>(a));
  for (auto& a : t.profiles)
    if (a)
      targets.push_back(caf::actor_cast<caf::actor>(a));
  for (auto& a : t.recommenders)
    targets.push_back(caf::actor_cast<caf::actor>(a));
  targets.push_back(caf::actor_cast<caf::actor>(writer));
  auto manager = sys.spawn(cluster_manager, o, local, std::move(targets), connector_of(sys, o),
                           shared);
  auto port = publish_endpoint(sys, o, manager);
  if (!port) {
    caf::anon_send_exit(manager, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(keeper, caf::exit_reason::user_shutdown);
    throw std::runtime_error("cluster node " + std::to_string(o.self) + ": "
                             + sys.render(port.error()));
  }
  spdlog::info("cluster: node {} of {} listening for peers on {}:{} ({}); shard map:\n{}", o.self,
               o.nodes.size(), o.bind_address.empty() ? o.nodes[o.self].host : o.bind_address,
               *port, o.tls() ? "TLS" : "plain TCP, loopback only",
               engine::describe(shared->status.map, o.nodes));
  return manager;
}

}  // namespace rtrec
