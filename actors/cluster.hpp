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
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "actors/topology.hpp"
#include "engine/cluster_map.hpp"
#include "engine/placement.hpp"
#include "messages/messages.hpp"
#include "rtrec/cluster.hpp"

namespace rtrec {


/// Shared between the cluster manager (writer) and the service (reader).
struct cluster_shared {
  std::mutex mtx;
  std::condition_variable changed;  ///< notified after every status change
  cluster_status status;            ///< status.map is set before the manager starts
  shard_directory directory;
  /// Per item shard of the cluster: what its node's oldest kept checkpoint
  /// holds (item_coverage), as last heard; this node's checkpointer keeps
  /// its log back to the least of them.
  std::map<std::uint32_t, std::vector<std::uint64_t>> coverage;
};

/// The directory of the shards hosted in `t` (null for the others).
shard_directory local_directory(const topology& t, std::uint32_t node);

struct cluster_manager_state {
  static inline const char* name = "rtrec.cluster_manager";
  struct peer {
    caf::strong_actor_ptr handle;  ///< the peer's manager; null while down
    std::vector<caf::strong_actor_ptr> profiles;
    std::vector<caf::strong_actor_ptr> items;
    caf::strong_actor_ptr meta_writer;
    std::chrono::milliseconds backoff{0};
    bool dialing = false;
  };
  cluster_options opts;
  shard_directory local;
  std::vector<caf::actor> targets;
  caf::io::middleman_actor connector;
  std::shared_ptr<cluster_shared> shared;
  std::vector<peer> peers;  ///< by node index (self's entry unused)
  item_coverage own;        ///< this node's item shards' coverage, last reported
  /// The newest chosen cluster map from the node's keeper (epoch 0: none
  /// yet). With replicated profile shards it decides where each profile
  /// shard's writes and queries go (its primary) and what each local copy
  /// is told (replica_config).
  engine::cluster_map map;
  bool stopping = false;
};

/// The node's manager and published endpoint (node_actor). Keeps every peer
/// connected (see the diagram above) and sends the merged directory to
/// `targets` (this node's ingestors, profile shards, recommenders and item
/// writer)
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


/// The middleman actor that dials peers (openssl's with TLS).
caf::io::middleman_actor connector_of(caf::actor_system& sys, const cluster_options& o);

// -- bootstrap: what a service does to run as a node --------------------------------

/// Loads CAF's middleman (and openssl module with TLS) into `cfg` and sets
/// the heartbeat and connection timeout from `o`. Throws
/// std::invalid_argument for an unusable `o` (see validate()).
void configure_cluster(caf::actor_system_config& cfg, const cluster_options& o);

/// The cluster's first map: each profile shard on its first
/// o.replication_factor nodes in rendezvous order, each item shard on one.
engine::cluster_map first_map(const cluster_options& o, const topology_config& tc);

/// Places the shards over o.nodes (rendezvous hashing), marks this node's in
/// tc.local_profiles (every profile shard it holds a copy of) /
/// tc.local_items, and returns the status the manager starts from.
std::shared_ptr<cluster_shared> plan_cluster(const cluster_options& o, topology_config& tc);

/// Spawns this node's cluster manager over the topology `t` (its
/// ingestors, local profile shards and recommenders, plus the item writer
/// `writer`, get every directory), and publishes it on the node's cluster
/// port. `writer` is the cluster's meta writer when this node hosts item
/// shard 0. Also starts the node's map keeper (actors/map_keeper.hpp),
/// stored in `data_dir` (empty: in memory; such a node forgets its promises
/// when it restarts), linked to the manager. Throws std::runtime_error
/// naming the address when the port cannot be bound (the manager and keeper
/// are stopped then), or naming the file when the data directory's CLUSTER
/// file is damaged or belongs to another cluster.
caf::actor start_cluster_node(caf::actor_system& sys, const cluster_options& o, const topology& t,
                              item_writer_actor writer, std::shared_ptr<cluster_shared> shared,
                              const std::string& data_dir);

}  // namespace rtrec
