// The replicated cluster's map (docs/replication.md): for every shard its
// replicas in rendezvous order, its primary and its in-sync replicas, under
// an epoch. A map changes only through the transitions below (pure
// functions of the previous map); map_agreement.hpp chooses at most one map
// per epoch by a majority of the members, each derived from the map chosen
// before it.
//
// Plain C++17: no CAF, no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/binary_codec.hpp"
#include "engine/placement.hpp"

namespace rtrec::engine {

/// "No node": a shard without a primary (none of its in-sync replicas is up).
inline constexpr std::uint32_t no_node = ~std::uint32_t{0};

/// One shard's place in the cluster.
struct shard_replicas {
  std::vector<std::uint32_t> replicas;  ///< node indices, in rendezvous order
  std::uint32_t primary = no_node;      ///< accepts its writes; no_node: unavailable
  std::vector<std::uint32_t> in_sync;   ///< replicas holding every acknowledged record

  /// The field list (S: shard_replicas, const when writing).
  template <class A, class S>
  static void fields(A& a, S& s) {
    a.column(s.replicas);
    a.value(s.primary);
    a.column(s.in_sync);
  }
  friend bool operator==(const shard_replicas& x, const shard_replicas& y) {
    return x.replicas == y.replicas && x.primary == y.primary && x.in_sync == y.in_sync;
  }
};

/// Which kind of shard a transition names.
enum class shard_kind : std::uint8_t { profile = 0, item = 1 };

/// The whole map. `epoch` orders maps; `parent` is the epoch of the map this
/// one was derived from (0 for a cluster's first map), so the chosen maps
/// form one chain.
struct cluster_map {
  std::uint64_t epoch = 0;
  std::uint64_t parent = 0;
  std::vector<node_address> members;
  std::vector<std::uint8_t> down;  ///< by member: 1 = taken out as down
  std::vector<shard_replicas> profiles;
  std::vector<shard_replicas> items;

  std::vector<shard_replicas>& shards(shard_kind k) {
    return k == shard_kind::profile ? profiles : items;
  }
  const std::vector<shard_replicas>& shards(shard_kind k) const {
    return k == shard_kind::profile ? profiles : items;
  }

  template <class A>
  void fields(A& a) {
    a.value(epoch);
    a.value(parent);
    a.sequence(members, 6, "member", [&](auto& n) {
      a.str(n.host, 255);
      a.value(n.port);
    });
    a.column(down, members.size());
    a.sequence(profiles, 20, "profile shard", [&](auto& s) { shard_replicas::fields(a, s); });
    a.sequence(items, 20, "item shard", [&](auto& s) { shard_replicas::fields(a, s); });
  }
  friend bool operator==(const cluster_map& x, const cluster_map& y) {
    return x.epoch == y.epoch && x.parent == y.parent && x.members == y.members
           && x.down == y.down && x.profiles == y.profiles && x.items == y.items;
  }
};

/// A cluster's first map (epoch 1): each shard on the first
/// min(replication_factor, members) nodes of its rendezvous order, the first
/// of them primary, all in sync. replication_factor 0 counts as 1.
cluster_map initial_map(const std::vector<node_address>& nodes, std::uint32_t profile_shards,
                        std::uint32_t item_shards, std::uint32_t replication_factor);

// Transitions. Each returns the changed map with epoch and parent unchanged:
// the proposer that gets it chosen sets them (map_agreement.hpp).

/// Member `n` is down: it leaves every in-sync set it is in, unless it is
/// the last member of that set that is up (then it stays: it alone holds
/// every acknowledged record); every shard it was primary of takes the first
/// in-sync replica that is up, in rendezvous order, as primary, or none (the
/// shard waits for a member of its in-sync set to return). Replica sets are
/// unchanged: `n` catches up when it returns.
cluster_map node_down(cluster_map m, std::uint32_t n);

/// Member `n` is up again: it becomes primary of the shards that have none
/// and whose in-sync set it is in; elsewhere it has to catch up first.
cluster_map node_up(cluster_map m, std::uint32_t n);

/// Replica `n` of shard `s` holds every record the shard's primary
/// acknowledged: it joins the in-sync set (no change without a primary).
cluster_map caught_up(cluster_map m, shard_kind k, std::uint32_t s, std::uint32_t n);

/// Replica `n` of shard `s` fell behind (did not confirm records in time):
/// it leaves the in-sync set. Never the primary (a primary that cannot
/// write is taken out with node_down).
cluster_map fell_behind(cluster_map m, shard_kind k, std::uint32_t s, std::uint32_t n);

/// What is wrong with `m`, "" when nothing: as many down flags as members,
/// replica lists of distinct member indices, non-empty in-sync sets within
/// them whose members are all up or all down, and a primary that is an
/// in-sync member that is up (no_node exactly when all of them are down).
std::string check_map(const cluster_map& m);

/// The map as bytes (its field list through the binary codec), and back;
/// decode_map throws codec::decode_error naming what was wrong.
std::string encode_map(const cluster_map& m);
cluster_map decode_map(std::string_view bytes);

}  // namespace rtrec::engine
