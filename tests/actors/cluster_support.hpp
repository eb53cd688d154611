// Shared by the in-process cluster tests (tests/actors/cluster*_test.cpp):
// free loopback node lists that spread the shards over every node, the
// cluster's topology and node options, and a seeded event stream.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "actors/cluster.hpp"
#include "engine/placement.hpp"
#include "engine/synthetic.hpp"
#include "rtrec/rtrec.hpp"

namespace rtrec::cluster_testing {

using namespace std::chrono_literals;

inline std::vector<engine::node_address> loopback_nodes(std::size_t n) {
  return free_loopback_nodes(n);
}

inline topology_config cluster_topology();

// Free loopback ports for n nodes such that every node hosts at least one
// profile shard and one item shard under cluster_topology() (placement
// depends on the addresses), so every test crosses nodes both ways.
inline std::vector<engine::node_address> spread_nodes(std::size_t n) {
  const auto tc = cluster_topology();
  for (int attempt = 0; attempt < 1000; ++attempt) {
    auto nodes = loopback_nodes(n);
    auto map = engine::place_shards(nodes, tc.profile_shards, tc.item_shards);
    bool ok = true;
    for (std::uint32_t k = 0; k < n; ++k)
      ok = ok && !map.profiles_of(k).empty() && !map.items_of(k).empty();
    if (ok)
      return nodes;
  }
  throw std::runtime_error("spread_nodes: no port set spreads the shards over every node");
}

inline topology_config cluster_topology() {
  topology_config tc;
  tc.profile_shards = 6;
  tc.item_shards = 5;
  tc.ingestors = 2;
  tc.recommenders = 2;
  tc.model.neighbors_max = 100000;  // no pruning: exact comparison (compare.hpp)
  tc.model.item_users_max = 100000;  // no evictions from an item's users: the same
  tc.model.popular_refresh_events = 0;
  tc.request_timeout = 5s;
  return tc;
}

inline service_options node_options(const std::vector<engine::node_address>& nodes,
                                    std::uint32_t self) {
  service_options o;
  o.topology = cluster_topology();
  o.worker_threads = 2;
  o.call_timeout = 10s;
  o.cluster.nodes = nodes;
  o.cluster.self = self;
  o.cluster.heartbeat = 200ms;
  o.cluster.connection_timeout = 3s;
  o.cluster.reconnect_min = 20ms;
  o.cluster.reconnect_max = 200ms;
  return o;
}

inline bool complete(const cluster_status& s) {
  return s.complete();
}

// Returns the index of the node owning the profile shard of `user`.
inline std::uint32_t owner_of(const cluster_status& s, const std::string& user) {
  const auto shard = engine::shard_of(engine::hash_id(user),
                                      static_cast<std::uint32_t>(s.map.profile_owner.size()));
  return s.map.profile_owner[shard];
}

inline std::vector<engine::event> seeded_events(std::uint64_t seed, std::size_t n) {
  engine::synthetic_config sc;
  sc.seed = seed;
  sc.users = 400;
  sc.items = 300;
  sc.events = n;
  sc.tastes = 8;
  engine::synthetic_generator gen{sc};
  std::vector<engine::event> out;
  gen.next_batch(out, n);
  return out;
}


}  // namespace rtrec::cluster_testing
