// Settings of an rtrec service: shard counts and runtime knobs of the actor
// topology, the model, persistence, scheduling and cluster mode. Settings
// only: what a running service is handed besides them (its log, recovered
// state, where answers go) is passed separately (actors/topology.hpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/config.hpp"
#include "rtrec/cluster.hpp"
#include "storage/types.hpp"

namespace rtrec::storage {
class file_ops;
}

namespace rtrec {

/// Largest n (and offset) a query may ask for.
constexpr std::uint32_t max_results = 10000;

/// The actor topology: how many of each actor, and their runtime knobs.
struct topology_config {
  std::uint32_t ingestors = 1;
  std::uint32_t profile_shards = 2;
  std::uint32_t item_shards = 2;
  std::uint32_t recommenders = 2;
  engine::model_config model;
  /// Every request between actors fails after this long (a dead or frozen
  /// peer answers shard_unavailable, never a hang).
  std::chrono::nanoseconds request_timeout = std::chrono::seconds(10);
  /// An item shard's resync (a profile shard re-deriving the delta batches
  /// it missed from its data directory) fails after this long and is asked
  /// again at the next batch.
  std::chrono::nanoseconds resync_timeout = std::chrono::seconds(60);
  /// A replicated profile shard's primary ships again after this long while
  /// a follower may lack what it shipped (a ship or its answer was lost).
  std::chrono::nanoseconds replica_resend = std::chrono::milliseconds(200);
  /// A replicated profile shard's primary asks the controller to take an
  /// in-sync follower out of the in-sync set once it has lacked records
  /// this long (docs/replication.md, "Lagging followers and catch-up").
  std::chrono::nanoseconds replica_lag_timeout = std::chrono::seconds(2);
  /// Delta batches a profile shard may have unacknowledged per item shard
  /// before it holds back ingest acknowledgements (item-side backpressure).
  std::uint32_t max_deltas_in_flight = 8;
  /// Largest shard_batch an ingestor sends (larger per-shard groups are
  /// split). Bounds how long one message occupies a shard, and so how long a
  /// query waits behind it.
  std::uint32_t max_batch = 256;
  /// Events of a delta batch an item shard applies before it checks for a
  /// waiting query; if one waits, the query goes first and the rest of the
  /// batch follows (0 = whole batches). Bounds how long a query waits
  /// behind the item side's work (docs/benchmarks.md, "Item shards apply
  /// in slices").
  std::uint32_t item_apply_slice = 64;
  /// Run each recommender on its own thread (CAF detached actor) instead of
  /// the worker pool. Measured no better on 2 cores (docs/benchmarks.md), so
  /// off by default. Must stay false under the deterministic test scheduler.
  bool detach_recommenders = false;
  /// Idempotent ingestion: event ids remembered per node (split evenly over
  /// the profile shards; 0 = off) and for how long (by log time; 0 = no age
  /// limit). A retried event within the window is acknowledged, not applied.
  std::size_t dedup_ids = 1000000;
  std::chrono::milliseconds dedup_age = std::chrono::hours(24);
  /// Cluster mode: which profile and item shards this node hosts (by shard
  /// index). Empty = all of them (one process). The others start as null
  /// handles until the cluster manager's directory fills them in.
  std::vector<bool> local_profiles;
  std::vector<bool> local_items;
  /// Cluster mode with replicated profile shards: a profile shard takes
  /// writes only as a replica, so none before its first replica_config.
  bool replicated_profiles = false;
};

/// Where and how the service persists its state. An empty data_dir keeps
/// everything in memory (nothing survives a restart).
struct durability_options {
  /// Directory of the write-ahead log and the checkpoints (created if needed).
  std::string data_dir;
  /// fsync: every group of records is fdatasync'ed before it is
  /// acknowledged (group commit). none: acknowledged once handed to the OS;
  /// a power loss (not a process crash) may lose the last moments.
  storage::sync_policy sync = storage::sync_policy::fsync;
  /// What recovery does when valid log records follow a corrupt one.
  storage::corruption_policy recovery = storage::corruption_policy::strict;
  /// Time between checkpoints; 0 = only on stop() and checkpoint().
  std::chrono::milliseconds snapshot_interval{std::chrono::minutes(5)};
  /// Write a checkpoint when the service stops cleanly.
  bool snapshot_on_stop = true;
  /// A log segment rolls once it passes this size.
  std::uint64_t segment_bytes = 64ull << 20;
  /// Checkpoints kept (at least 2, so a damaged newest one falls back).
  std::size_t keep_checkpoints = 2;
  /// File-system calls of the log writer (tests inject faults); null = real.
  storage::file_ops* file_ops = nullptr;
};

/// Everything a service is configured with.
struct service_options {
  /// Shard counts, model and runtime knobs.
  topology_config topology;
  /// CAF worker threads; 0 = one per core.
  std::size_t worker_threads = 0;
  /// Messages an actor handles before it yields its thread (CAF's
  /// scheduler.max-throughput). Small values keep query latency low while
  /// shards chew through ingest batches.
  std::size_t max_throughput = 1;
  /// Scheduler policy:
  ///  - "priority" (the default): one shared job queue plus a query lane in
  ///    front of it, so a query's hops do not wait behind ingest batches
  ///    (actors/query_lane.hpp);
  ///  - "sharing": CAF's one FIFO job queue (fair, but a query waits at every
  ///    hop for every actor queued ahead of it);
  ///  - "stealing": CAF's default, per-worker LIFO queues (more throughput,
  ///    long query tails).
  std::string scheduler_policy = "priority";
  /// Events accepted but not yet acknowledged, across all callers.
  std::size_t max_in_flight_events = 1u << 20;
  /// How long a call waits for its answer (blocking calls, and the backstop
  /// of asynchronous ones).
  std::chrono::milliseconds call_timeout{15000};
  /// Persistence (off by default: in memory only).
  durability_options durability;
  /// Cluster mode (off by default: one process). This service is then one
  /// node: it hosts the shards placement gives it and reaches the others
  /// through its peers; every call works as in one process. Cluster nodes
  /// keep their state in memory (durability.data_dir must be empty).
  cluster_options cluster;
};

}  // namespace rtrec
