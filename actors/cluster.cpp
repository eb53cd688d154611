#include "actors/cluster.hpp"

#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace rtrec {

shard_directory local_directory(const topology& t, std::uint32_t node) {
  shard_directory d;
  d.node = node;
  for (const auto& p : t.profiles)
    d.profiles.push_back(caf::actor_cast<caf::strong_actor_ptr>(p));
  for (const auto& i : t.items)
    d.items.push_back(caf::actor_cast<caf::strong_actor_ptr>(i));
  return d;
}

namespace {

using self_ptr = caf::stateful_actor<cluster_manager_state>*;

bool replicated(const cluster_manager_state& st) {
  return st.opts.replication_factor > 1;
}

// Profile shard s's copy on node n: local, or as node n's directory says
// while n is up; null otherwise.
caf::strong_actor_ptr profile_on(const cluster_manager_state& st, std::uint32_t n,
                                  std::size_t s) {
  if (n == st.opts.self)
    return st.local.profiles[s];
  if (n >= st.peers.size() || !st.peers[n].handle || s >= st.peers[n].profiles.size())
    return nullptr;
  return st.peers[n].profiles[s];
}

// Tells each local copy of a replicated profile shard the chosen map's
// entry for it and where the other copies are now (again after every
// change of either: a copy takes a configuration of the epoch it holds,
// with new handles).
void configure_replicas(self_ptr self) {
  auto& st = self->state;
  if (!replicated(st) || st.map.epoch == 0)
    return;
  for (std::uint32_t s = 0; s < st.local.profiles.size() && s < st.map.profiles.size(); ++s) {
    const auto& entry = st.map.profiles[s];
    if (!st.local.profiles[s]
        || std::find(entry.replicas.begin(), entry.replicas.end(), st.opts.self)
             == entry.replicas.end())
      continue;
    std::vector<caf::strong_actor_ptr> peers(st.map.members.size());
    for (auto n : entry.replicas)
      peers[n] = profile_on(st, n, s);
    self->send(caf::actor_cast<profile_shard_actor>(st.local.profiles[s]),
               replica_config{st.map.epoch, entry, st.opts.self, std::move(peers), st.local.keeper});
  }
}

// Builds the directory from the local shards and every peer that is up,
// shares it with the service and sends it to the local actors.
void publish_directory(self_ptr self) {
  auto& st = self->state;
  shard_directory d = st.local;
  const auto& map = st.shared->status.map;  // set before the manager started
  for (std::size_t s = 0; s < d.profiles.size(); ++s) {
    if (replicated(st)) {
      // To the chosen map's primary (none before a map is known).
      const auto primary = s < st.map.profiles.size() ? st.map.profiles[s].primary
                                                       : engine::no_node;
      d.profiles[s] = primary == engine::no_node ? nullptr : profile_on(st, primary, s);
    } else if (auto owner = map.profile_owner[s]; owner != st.opts.self) {
      d.profiles[s] = st.peers[owner].handle ? st.peers[owner].profiles[s] : nullptr;
    }
  }
  for (std::size_t m = 0; m < d.items.size(); ++m)
    if (auto owner = map.item_owner[m]; owner != st.opts.self)
      d.items[m] = st.peers[owner].handle ? st.peers[owner].items[m] : nullptr;
  // The meta writer is the item writer of item shard 0's node.
  if (auto owner = map.item_owner.at(0); owner != st.opts.self)
    d.meta_writer = st.peers[owner].handle ? st.peers[owner].meta_writer : nullptr;
  for (auto& t : st.targets)
    self->send(t, directory_atom::value, d);
  {
    std::lock_guard<std::mutex> guard{st.shared->mtx};
    st.shared->directory = std::move(d);
    for (std::size_t n = 0; n < st.peers.size(); ++n)
      if (n != st.opts.self)
        st.shared->status.nodes[n].up = static_cast<bool>(st.peers[n].handle);
    st.shared->status.replicas = st.map;  // with the directory that follows it
  }
  st.shared->changed.notify_all();
  configure_replicas(self);
}

// Tells the node's map keeper (if it runs one) how node n's keeper is
// reached now (null: not reached).
void tell_keeper(self_ptr self, std::uint32_t n, caf::strong_actor_ptr keeper) {
  const auto& local = self->state.local.keeper;
  if (local)
    self->send(caf::actor_cast<map_keeper_actor>(local), node_atom::value, n, std::move(keeper));
}

void note(self_ptr self, std::uint32_t n, const std::string& why, bool connected) {
  auto& st = self->state;
  {
    std::lock_guard<std::mutex> guard{st.shared->mtx};
    auto& ns = st.shared->status.nodes[n];
    if (connected) {
      ++ns.connects;
      ns.last_error.clear();
    } else {
      ++ns.failures;
      ns.last_error = why;
    }
  }
  st.shared->changed.notify_all();
}

// Returns "" when a peer's directory fits this node's configuration.
std::string check_directory(self_ptr self, std::uint32_t n, const shard_directory& d) {
  const auto& st = self->state;
  if (d.node == n && d.profiles.size() == st.local.profiles.size()
      && d.items.size() == st.local.items.size())
    return {};
  return "it is configured differently (it says it is node " + std::to_string(d.node) + " with "
         + std::to_string(d.profiles.size()) + " profile and " + std::to_string(d.items.size())
         + " item shards; here it is node " + std::to_string(n) + " with "
         + std::to_string(st.local.profiles.size()) + " and "
         + std::to_string(st.local.items.size())
         + "): every node needs the same node list and shard counts";
}

// Peer n is up: monitor it and route to its shards.
void peer_up(self_ptr self, std::uint32_t n, caf::strong_actor_ptr handle, shard_directory& d) {
  auto& st = self->state;
  auto& p = st.peers[n];
  tell_keeper(self, n, d.keeper);
  p.dialing = false;
  p.handle = std::move(handle);
  p.profiles = std::move(d.profiles);
  p.items = std::move(d.items);
  p.meta_writer = std::move(d.meta_writer);
  p.backoff = std::chrono::milliseconds{0};
  self->monitor(p.handle);
  if (!st.own.shards.empty())
    self->send(caf::actor_cast<node_actor>(p.handle), coverage_atom::value, st.own, false);
  note(self, n, {}, true);
  spdlog::info("cluster: node {} ({}) is up", n, st.opts.nodes[n].to_string());
  publish_directory(self);
}

// Dials node n again after its backoff (doubling up to the maximum).
void retry_later(self_ptr self, std::uint32_t n, const std::string& why) {
  auto& st = self->state;
  auto& p = st.peers[n];
  p.dialing = false;
  if (st.stopping)
    return;
  note(self, n, why, false);
  p.backoff = p.backoff.count() == 0 ? st.opts.reconnect_min
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

// Peer n stopped being reachable: its shards go null; a dialer dials again.
void peer_down(self_ptr self, std::uint32_t n, const std::string& why) {
  auto& st = self->state;
  auto& p = st.peers[n];
  spdlog::warn("cluster: node {} ({}) is down ({}); its shards answer shard_unavailable "
               "until it is back",
               n, st.opts.nodes[n].to_string(), why);
  self->demonitor(caf::actor_cast<caf::actor_addr>(p.handle));
  p.handle = nullptr;
  p.profiles.clear();
  p.items.clear();
  p.meta_writer = nullptr;
  tell_keeper(self, n, nullptr);
  publish_directory(self);
  if (st.opts.self < n) {
    p.backoff = std::chrono::milliseconds{0};
    retry_later(self, n, "connection lost: " + why);
  } else {
    note(self, n, "connection lost: " + why + " (waiting for it to dial again)", false);
  }
}

// Asks every peer that is up for its directory; one that does not answer
// within connection_timeout is down (a frozen process, a dead link that TCP
// has not noticed yet). Runs every heartbeat.
void ping(self_ptr self) {
  auto& st = self->state;
  if (st.stopping)
    return;
  for (std::uint32_t n = 0; n < st.peers.size(); ++n) {
    auto handle = st.peers[n].handle;
    if (!handle)
      continue;
    self->request(caf::actor_cast<node_actor>(handle), caf::timespan{st.opts.connection_timeout},
                  directory_atom::value)
      .then([](shard_directory&) {},
            [=](caf::error& err) {
              if (self->state.peers[n].handle == handle)
                peer_down(self, n, "no answer to a ping within "
                                     + std::to_string(self->state.opts.connection_timeout.count())
                                     + " ms: " + self->system().render(err));
            });
  }
  self->delayed_send(self, st.opts.heartbeat, tick_atom::value);
}

// Takes an item coverage report (the newest report for a shard wins).
void on_coverage(self_ptr self, item_coverage& c, bool own) {
  auto& st = self->state;
  {
    std::lock_guard<std::mutex> guard{st.shared->mtx};
    for (std::size_t k = 0; k < c.shards.size() && k < c.applied.size(); ++k)
      st.shared->coverage[c.shards[k]] = c.applied[k];
  }
  if (!own)
    return;
  st.own = c;
  for (auto& p : st.peers)
    if (p.handle)
      self->send(caf::actor_cast<node_actor>(p.handle), coverage_atom::value, c, false);
}

bool dials(const cluster_manager_state& st, std::uint32_t n) {
  return st.opts.self < n;
}

void dial(self_ptr self, std::uint32_t n) {
  auto& st = self->state;
  auto& p = st.peers[n];
  if (st.stopping || p.dialing || p.handle)
    return;
  p.dialing = true;
  const auto addr = st.opts.nodes[n];
  const caf::timespan timeout{st.opts.connect_timeout};
  auto failed = [=](const char* step) {
    return [=](caf::error& err) {
      retry_later(self, n, std::string{step} + self->system().render(err));
    };
  };
  self->request(st.connector, timeout, caf::connect_atom::value, addr.host, addr.port)
    .then(
      [=](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
        if (!ptr) {
          retry_later(self, n, "no actor is published on that port");
          return;
        }
        auto peer = caf::actor_cast<node_actor>(ptr);
        self->request(peer, timeout, directory_atom::value)
          .then(
            [=](shard_directory& d) mutable {
              if (auto why = check_directory(self, n, d); !why.empty()) {
                retry_later(self, n, why);
                return;
              }
              // Introduce this node; the peer routes to it from then on.
              self->request(peer, timeout, directory_atom::value, self->state.local)
                .then(
                  [=](bool taken) mutable {
                    if (!taken) {
                      retry_later(self, n, "it refused this node's directory (see its log)");
                      return;
                    }
                    peer_up(self, n, ptr, d);
                  },
                  failed("introduction failed: "));
            },
            failed("directory query failed: "));
      },
      failed(""));
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
      if (p.handle && p.handle == dm.source)
        peer_down(self, n, self->system().render(dm.reason));
    }
  });
  self->set_exit_handler([=](caf::exit_msg& em) {
    self->state.stopping = true;
    self->quit(em.reason);
  });
  if (st.local.keeper) {
    // The keeper stops with the manager; the manager hears of its maps.
    self->link_to(caf::actor_cast<caf::actor>(st.local.keeper));
    self->send(caf::actor_cast<map_keeper_actor>(st.local.keeper), map_atom::value,
               caf::actor_cast<caf::actor>(self));
  }
  publish_directory(self);
  for (std::uint32_t n = 0; n < st.peers.size(); ++n)
    if (dials(st, n))
      dial(self, n);
  self->delayed_send(self, st.opts.heartbeat, tick_atom::value);
  return {
    // A peer asks where this node's shards are.
    [=](directory_atom) { return self->state.local; },
    // A peer with a lower index introduces itself (it dialed this node).
    [=](directory_atom, shard_directory& d) -> bool {
      auto& st = self->state;
      const auto n = d.node;
      auto sender = self->current_sender();
      if (n >= st.peers.size() || dials(st, n) || !sender) {
        spdlog::error("cluster: refused an introduction from a node calling itself {}: only "
                      "nodes with a lower index than {} dial this one",
                      n, st.opts.self);
        return false;
      }
      if (auto why = check_directory(self, n, d); !why.empty()) {
        spdlog::error("cluster: refused node {}: {}", n, why);
        note(self, n, why, false);
        return false;
      }
      auto& p = st.peers[n];
      if (p.handle) {
        // It restarted before its old connection was noticed as lost.
        self->demonitor(caf::actor_cast<caf::actor_addr>(p.handle));
        p.handle = nullptr;
      }
      peer_up(self, n, std::move(sender), d);
      return true;
    },
    // Item coverage: from this node's checkpointer (own: also passed on to
    // every peer that is up) or from a peer.
    [=](coverage_atom, item_coverage& c, bool own) { on_coverage(self, c, own); },
    // A chosen cluster map, from this node's keeper.
    [=](map_atom, engine::cluster_map& m) {
      auto& st = self->state;
      if (m.epoch <= st.map.epoch)
        return;
      st.map = std::move(m);
      publish_directory(self);  // routes to the new primaries, configures the copies
    },
    [=](tick_atom) { ping(self); },
    [=](tick_atom, std::uint32_t n) {
      if (n < self->state.peers.size())
        dial(self, n);
    },
  };
}

}  // namespace rtrec
