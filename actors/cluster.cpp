#include "actors/cluster.hpp"

#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <stdexcept>

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

bool cluster_status::complete() const {
  return std::all_of(nodes.begin(), nodes.end(), [](const node_status& n) { return n.up; });
}

shard_directory local_directory(const topology& t, std::uint32_t node) {
  shard_directory d;
  d.node = node;
  for (const auto& p : t.profiles)
    d.profiles.push_back(caf::actor_cast<caf::strong_actor_ptr>(p));
  for (const auto& i : t.items)
    d.items.push_back(caf::actor_cast<caf::strong_actor_ptr>(i));
  return d;
}

node_actor::behavior_type node_endpoint(node_actor::pointer, shard_directory local) {
  return {
    [=](directory_atom) { return local; },
  };
}

caf::expected<std::uint16_t> publish_endpoint(caf::actor_system& sys, const cluster_options& o,
                                              const node_actor& endpoint) {
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

caf::io::middleman_actor connector_of(caf::actor_system& sys, const cluster_options& o) {
  return o.tls() ? sys.openssl_manager().actor_handle() : sys.middleman().actor_handle();
}

namespace {

using self_ptr = caf::stateful_actor<cluster_manager_state>*;

// Builds the directory from the local shards and every peer that is up,
// shares it with the engine and sends it to the local actors.
void publish_directory(self_ptr self) {
  auto& st = self->state;
  shard_directory d = st.local;
  const auto& map = st.shared->status.map;  // written once before spawn
  for (std::size_t s = 0; s < d.profiles.size(); ++s)
    if (auto owner = map.profile_owner[s]; owner != st.opts.self)
      d.profiles[s] = st.peers[owner].handle ? st.peers[owner].profiles[s] : nullptr;
  for (std::size_t m = 0; m < d.items.size(); ++m)
    if (auto owner = map.item_owner[m]; owner != st.opts.self)
      d.items[m] = st.peers[owner].handle ? st.peers[owner].items[m] : nullptr;
  for (auto& t : st.targets)
    self->send(t, directory_atom::value, d);
  std::lock_guard<std::mutex> guard{st.shared->mtx};
  st.shared->directory = std::move(d);
  for (std::size_t n = 0; n < st.peers.size(); ++n)
    if (n != st.opts.self)
      st.shared->status.nodes[n].up = static_cast<bool>(st.peers[n].handle);
}

void note_failure(self_ptr self, std::uint32_t n, const std::string& why) {
  auto& st = self->state;
  std::lock_guard<std::mutex> guard{st.shared->mtx};
  auto& ns = st.shared->status.nodes[n];
  ++ns.failures;
  ns.last_error = why;
}

void connect(self_ptr self, std::uint32_t n);

// Tries node n again after its backoff (doubling up to the maximum).
void retry_later(self_ptr self, std::uint32_t n, const std::string& why) {
  auto& st = self->state;
  auto& p = st.peers[n];
  p.connecting = false;
  if (st.stopping)
    return;
  note_failure(self, n, why);
  p.backoff = p.backoff.count() == 0
                ? st.opts.reconnect_min
                : std::min(st.opts.reconnect_max, p.backoff * 2);
  const auto& addr = st.opts.nodes[n];
  if (p.backoff == st.opts.reconnect_min)
    spdlog::warn("cluster: node {} ({}) unreachable: {}; retrying with backoff up to {} ms", n,
                 addr.to_string(), why, st.opts.reconnect_max.count());
  else
    spdlog::debug("cluster: node {} ({}) still unreachable: {}; next try in {} ms", n,
                  addr.to_string(), why, p.backoff.count());
  self->delayed_send(self, p.backoff, tick_atom::value, n);
}

void connect(self_ptr self, std::uint32_t n) {
  auto& st = self->state;
  auto& p = st.peers[n];
  if (st.stopping || p.connecting || p.handle)
    return;
  p.connecting = true;
  const auto addr = st.opts.nodes[n];
  const caf::timespan timeout{st.opts.connect_timeout};
  self->request(st.connector, timeout, caf::connect_atom::value, addr.host, addr.port)
    .then(
      [=](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
        if (!ptr) {
          retry_later(self, n, "no actor is published on that port");
          return;
        }
        auto handle = caf::actor_cast<node_actor>(ptr);
        self->request(handle, timeout, directory_atom::value)
          .then(
            [=](shard_directory& d) {
              auto& st = self->state;
              auto& p = st.peers[n];
              if (d.node != n || d.profiles.size() != st.local.profiles.size()
                  || d.items.size() != st.local.items.size()) {
                retry_later(self, n,
                            "it is configured differently (it says it is node "
                              + std::to_string(d.node) + " with "
                              + std::to_string(d.profiles.size()) + " profile and "
                              + std::to_string(d.items.size())
                              + " item shards); every node needs the same node list and "
                                "shard counts");
                return;
              }
              p.connecting = false;
              p.handle = handle;
              p.addr = handle.address();
              p.profiles = std::move(d.profiles);
              p.items = std::move(d.items);
              p.backoff = std::chrono::milliseconds{0};
              self->monitor(handle);
              {
                std::lock_guard<std::mutex> guard{st.shared->mtx};
                ++st.shared->status.nodes[n].connects;
                st.shared->status.nodes[n].last_error.clear();
              }
              spdlog::info("cluster: node {} ({}) is up", n, st.opts.nodes[n].to_string());
              publish_directory(self);
            },
            [=](caf::error& err) {
              retry_later(self, n, "directory query failed: " + self->system().render(err));
            });
      },
      [=](caf::error& err) { retry_later(self, n, self->system().render(err)); });
}

}  // namespace

caf::behavior cluster_manager(caf::stateful_actor<cluster_manager_state>* self,
                              cluster_options opts, shard_directory local,
                              std::vector<caf::actor> targets,
                              caf::io::middleman_actor connector,
                              std::shared_ptr<cluster_shared> shared) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.local = std::move(local);
  st.targets = std::move(targets);
  st.connector = std::move(connector);
  st.shared = std::move(shared);
  st.peers.resize(st.opts.nodes.size());
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    for (std::uint32_t n = 0; n < st.peers.size(); ++n) {
      auto& p = st.peers[n];
      if (!p.handle || p.addr != dm.source)
        continue;
      spdlog::warn("cluster: node {} ({}) is down ({}); its shards answer shard_unavailable "
                   "until it is back",
                   n, st.opts.nodes[n].to_string(), self->system().render(dm.reason));
      p.handle = nullptr;
      p.addr = nullptr;
      p.profiles.clear();
      p.items.clear();
      publish_directory(self);
      p.backoff = std::chrono::milliseconds{0};
      retry_later(self, n, "connection lost: " + self->system().render(dm.reason));
    }
  });
  self->set_exit_handler([=](caf::exit_msg& em) {
    self->state.stopping = true;
    self->quit(em.reason);
  });
  publish_directory(self);
  for (std::uint32_t n = 0; n < st.peers.size(); ++n)
    if (n != st.opts.self)
      connect(self, n);
  return {
    [=](tick_atom, std::uint32_t n) {
      if (n < self->state.peers.size())
        connect(self, n);
    },
  };
}

}  // namespace rtrec
