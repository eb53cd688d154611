// Cluster mode: the same actors spread over several nodes with CAF's
// middleman (BASP over TCP, or TLS with CAF's openssl module).
//
// Every node runs every ingestor and recommender role locally and hosts the
// profile and item shards that rendezvous hashing gives it
// (engine/placement.hpp). It publishes one node_actor on its cluster port;
// its cluster manager connects to every peer's node_actor, asks for the
// peer's shards (shard_directory), monitors it, and sends the merged
// directory to the node's ingestors, profile shards and recommenders. They
// address remote shards through CAF proxies exactly as local ones: a
// shard_batch, a delta_batch or a query to a remote shard is one message on
// the peer's connection.
//
// A peer, seen from one node's manager:
//
//   connecting --connect + directory ok--> up --down_msg (connection lost,
//       ^                                   |    heartbeat timeout, peer died)
//       |                                   v
//       +--- retry after backoff <---- down: its shards are null in the
//            (doubling, capped)              directory -> shard_unavailable
//
// Every step has a finite timeout. CAF's heartbeat (connection_timeout)
// turns a frozen peer into a lost connection.
#pragma once

#include <caf/all.hpp>
#include <caf/io/middleman_actor.hpp>

#include <chrono>
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
  /// One connection attempt (connect + directory query) may take this long.
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
  std::uint64_t connects = 0;  ///< successful connections so far
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
  cluster_status status;
  shard_directory directory;
};

/// The directory of the shards hosted in `t` (null for the others).
shard_directory local_directory(const topology& t, std::uint32_t node);

/// Answers peers' directory queries with `local`.
node_actor::behavior_type node_endpoint(node_actor::pointer self, shard_directory local);

struct cluster_manager_state {
  static inline const char* name = "rtrec.cluster_manager";
  struct peer {
    node_actor handle;  ///< null while not up
    caf::actor_addr addr;
    std::vector<caf::strong_actor_ptr> profiles;
    std::vector<caf::strong_actor_ptr> items;
    std::chrono::milliseconds backoff{0};
    bool connecting = false;
  };
  cluster_options opts;
  shard_directory local;
  std::vector<caf::actor> targets;
  caf::io::middleman_actor connector;
  std::shared_ptr<cluster_shared> shared;
  std::vector<peer> peers;  ///< by node index (self's entry unused)
  bool stopping = false;
};

/// Keeps every peer connected (see the diagram above) and sends the merged
/// directory to `targets` (this node's ingestors, profile shards and
/// recommenders) whenever it changes. `connector` is the middleman actor that
/// connects (plain BASP or openssl). Untyped: it also handles down messages.
caf::behavior cluster_manager(caf::stateful_actor<cluster_manager_state>* self, cluster_options opts,
                              shard_directory local, std::vector<caf::actor> targets,
                              caf::io::middleman_actor connector,
                              std::shared_ptr<cluster_shared> shared);

/// Publishes `endpoint` on this node's cluster port (TLS when configured).
/// Returns the port bound, or an error naming the address.
caf::expected<std::uint16_t> publish_endpoint(caf::actor_system& sys, const cluster_options& o,
                                              const node_actor& endpoint);

/// The middleman actor that connects to peers (openssl's with TLS).
caf::io::middleman_actor connector_of(caf::actor_system& sys, const cluster_options& o);

}  // namespace rtrec
