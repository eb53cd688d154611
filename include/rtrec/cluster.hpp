// Cluster mode as the embedding API sees it: how a node joins its cluster
// (cluster_options) and the cluster as one node sees it (cluster_status).
// Plain structs, no CAF; actors/cluster.hpp runs them.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/cluster_map.hpp"
#include "engine/placement.hpp"

namespace rtrec {

/// How a node joins its cluster. An empty node list = one process.
struct cluster_options {
  /// Every node of the cluster ("host:port" of its cluster port), the same
  /// list on every node.
  std::vector<engine::node_address> nodes;
  /// This node's index in `nodes`.
  std::uint32_t self = 0;
  /// Interface the cluster port listens on; empty = this node's host.
  std::string bind_address;
  /// BASP heartbeat between nodes, and how long a connection may stay
  /// silent before it counts as lost (a frozen peer).
  std::chrono::milliseconds heartbeat{1000};
  std::chrono::milliseconds connection_timeout{5000};
  /// One connection attempt (connect, directory, introduction) may take this
  /// long.
  std::chrono::milliseconds connect_timeout{5000};
  /// Reconnection backoff: first delay, doubled per failure up to the max.
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{2000};
  /// TLS between nodes (CAF's openssl module): this node's certificate
  /// chain and key (PEM), the CA that signs every node's certificate, and
  /// the key's passphrase if any. All of certificate, key and cafile, or none.
  std::string certificate;
  std::string key;
  std::string cafile;
  std::string passphrase;

  /// Copies of each profile shard (docs/replication.md): its first
  /// `replication_factor` nodes in rendezvous order hold it, the primary
  /// takes its writes and ships them to the others, and a write is
  /// acknowledged once every in-sync copy holds it. 1 = no copies (the
  /// placement above). Needs a data directory when above 1. Item shards
  /// are not replicated yet.
  std::uint32_t replication_factor = 1;

  bool enabled() const noexcept { return !nodes.empty(); }
  bool tls() const noexcept { return !certificate.empty() || !key.empty() || !cafile.empty(); }
};

/// One node as this node sees it.
struct node_status {
  engine::node_address address;
  bool self = false;
  bool up = false;             ///< connected and its directory known (self: always)
  std::uint64_t connects = 0;  ///< connections made (dialed or introduced) so far
  std::uint64_t failures = 0;  ///< failed attempts and lost connections
  std::string last_error;
};

/// The cluster as this node sees it.
struct cluster_status {
  bool enabled = false;
  std::uint32_t self = 0;
  bool tls = false;
  engine::shard_map map;
  /// The newest chosen cluster map this node knows (docs/replication.md,
  /// "The map keeper"): epoch, members taken out as down, per shard its
  /// replicas, primary and in-sync set. Epoch 0: none known yet.
  engine::cluster_map replicas;
  std::vector<node_status> nodes;
  /// This node keeps its shards in a data directory (docs/replication.md,
  /// "Stage 1").
  bool durable = false;
  /// Per item shard: the last delta seq per profile shard that its node's
  /// oldest kept checkpoint holds, as last heard (empty: not heard yet;
  /// this node keeps its whole log until it has heard of every item shard).
  std::vector<std::vector<std::uint64_t>> item_coverage;
  /// The chosen map gives every profile shard a primary and at least
  /// `copies` in-sync copies (false while no map is known).
  bool profiles_in_sync(std::size_t copies) const noexcept {
    if (replicas.epoch == 0)
      return false;
    for (const auto& p : replicas.profiles)
      if (p.primary == engine::no_node || p.in_sync.size() < copies)
        return false;
    return true;
  }
  /// Every node up: every shard reachable.
  bool complete() const noexcept {
    for (const auto& n : nodes)
      if (!n.up)
        return false;
    return true;
  }
};

/// Throws std::invalid_argument naming the problem when `o` cannot run: a
/// bad node index, duplicate nodes, partial TLS settings, or peers on
/// non-loopback addresses without TLS (CAF would otherwise talk to them in
/// clear text, unauthenticated).
void validate(const cluster_options& o);

/// Addresses of `n` distinct loopback ports that nobody listens on right now
/// (each bound to 127.0.0.1:0 at the same time, then all closed): for a
/// cluster on one machine in tests and benchmarks. Another process may take
/// one before the nodes bind it. Throws std::runtime_error when no socket
/// can be bound.
std::vector<engine::node_address> free_loopback_nodes(std::size_t n);

}  // namespace rtrec
