// Cluster mode: the same actors spread over several nodes with CAF's
// middleman (BASP over TCP, or TLS with CAF's openssl module).
//
// Every node runs every ingestor and recommender role locally and hosts the
// profile and item shards that rendezvous hashing gives it
// (engine/placement.hpp). Its cluster manager is published on the node's
// cluster port (node_actor). The managers learn where every shard is
// (shard_directory) and send the merged directory to the node's ingestors,
// profile shards and recommenders, which then address remote shards through
// CAF proxies exactly as local ones: a shard_batch, a delta_batch or a query
// for a remote shard is one message on the peers' connection.
//
// One connection per pair of nodes: the node with the lower index dials
// (two nodes dialing each other at once break CAF 0.17's TLS connections).
// A peer, seen from one node's manager:
//
//   dialing (peer index > mine):
//     connect --ok--> ask its directory --ok--> introduce myself --true--> up
//        ^  any step failed or timed out: retry after backoff (doubling,
//        |  capped)                                                       |
//        +------------- down: connection lost, heartbeat timeout <--------+
//   waiting (peer index < mine):
//     down --its introduction arrives--> up --connection lost--> down
//
// While a peer is down its shards are null in the directory: requests for
// them answer shard_unavailable at once. CAF's heartbeat
// (connection_timeout) turns a frozen peer into a lost connection.
#pragma once

#include <caf/all.hpp>
#include <caf/io/middleman_actor.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "actors/topology.hpp"
#include "engine/placement.hpp"
#include "messages/messages.hpp"

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

  bool enabled() const noexcept { return !nodes.empty(); }
  bool tls() const noexcept { return !certificate.empty() || !key.empty() || !cafile.empty(); }
};

/// Throws std::invalid_argument naming the problem when `o` cannot run: a
/// bad node index, duplicate nodes, partial TLS settings, or peers on
/// non-loopback addresses without TLS (CAF would otherwise talk to them in
/// clear text, unauthenticated).
void validate(const cluster_options& o);

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
  std::vector<node_status> nodes;
  /// Every node up: every shard reachable.
  bool complete() const;
};

/// Shared between the cluster manager (writer) and the engine (reader).
struct cluster_shared {
  std::mutex mtx;
  std::condition_variable changed;  ///< notified after every status change
  cluster_status status;            ///< status.map is set before the manager starts
  shard_directory directory;
};

/// The directory of the shards hosted in `t` (null for the others).
shard_directory local_directory(const topology& t, std::uint32_t node);

struct cluster_manager_state {
  static inline const char* name = "rtrec.cluster_manager";
  struct peer {
    caf::strong_actor_ptr handle;  ///< the peer's manager; null while down
    std::vector<caf::strong_actor_ptr> profiles;
    std::vector<caf::strong_actor_ptr> items;
    std::chrono::milliseconds backoff{0};
    bool dialing = false;
  };
  cluster_options opts;
  shard_directory local;
  std::vector<caf::actor> targets;
  caf::io::middleman_actor connector;
  std::shared_ptr<cluster_shared> shared;
  std::vector<peer> peers;  ///< by node index (self's entry unused)
  bool stopping = false;
};

/// The node's manager and published endpoint (node_actor). Keeps every peer
/// connected (see the diagram above) and sends the merged directory to
/// `targets` (this node's ingestors, profile shards and recommenders)
/// whenever it changes. `connector` is the middleman actor that dials
/// (plain BASP or openssl's). Untyped: it also handles down messages.
caf::behavior cluster_manager(caf::stateful_actor<cluster_manager_state>* self,
                              cluster_options opts, shard_directory local,
                              std::vector<caf::actor> targets,
                              caf::io::middleman_actor connector,
                              std::shared_ptr<cluster_shared> shared);

/// Publishes `manager` on this node's cluster port (TLS when configured).
/// Returns the port bound, or an error naming the address.
caf::expected<std::uint16_t> publish_endpoint(caf::actor_system& sys, const cluster_options& o,
                                              const caf::actor& manager);

/// Addresses of `n` distinct loopback ports that nobody listens on right now
/// (each bound to 127.0.0.1:0 at the same time, then all closed): for a
/// cluster on one machine in tests and benchmarks. Another process may take
/// one before the nodes bind it. Throws std::runtime_error when no socket
/// can be bound.
std::vector<engine::node_address> free_loopback_nodes(std::size_t n);

/// The middleman actor that dials peers (openssl's with TLS).
caf::io::middleman_actor connector_of(caf::actor_system& sys, const cluster_options& o);

}  // namespace rtrec
