// Spawning and stopping the actor topology: I ingestors, S profile shards,
// M item shards and R recommenders, wired together. The same function serves
// the embedded engine, the deterministic test harness and (later) nodes.
#pragma once

#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/config.hpp"
#include "messages/messages.hpp"
#include "storage/recovery.hpp"
#include "storage/wal.hpp"

namespace rtrec {

/// Where recommenders deliver the answers to queries sent without a
/// requester (`query_atom, ticket, ...`, from the embedded engine's calls):
/// one message in and the answer handed over here, instead of a client actor
/// relaying a request and its answer (two more hops). Called on a CAF worker
/// thread, once per ticket (an answer or an error, timeouts included).
class query_sink {
 public:
  virtual ~query_sink() = default;
  virtual void answer(std::uint64_t ticket, caf::expected<recommendations> result) = 0;
};

struct topology_config {
  std::uint32_t ingestors = 1;
  std::uint32_t profile_shards = 2;
  std::uint32_t item_shards = 2;
  std::uint32_t recommenders = 2;
  engine::model_config model;
  /// Every request between actors fails after this long (a dead or frozen
  /// peer answers shard_unavailable, never a hang).
  caf::timespan request_timeout = std::chrono::seconds(10);
  /// Delta batches a profile shard may have unacknowledged per item shard
  /// before it holds back ingest acknowledgements (item-side backpressure).
  std::uint32_t max_deltas_in_flight = 8;
  /// Largest shard_batch an ingestor sends (larger per-shard groups are
  /// split). Bounds how long one message occupies a shard, and so how long a
  /// query waits behind it.
  std::uint32_t max_batch = 256;
  /// Run each recommender on its own thread (CAF detached actor) instead of
  /// the worker pool. Measured no better on 2 cores (docs/benchmarks.md), so
  /// off by default. Must stay false under the deterministic test scheduler.
  bool detach_recommenders = false;
  /// Idempotent ingestion: event ids remembered per node (split evenly over
  /// the profile shards; 0 = off) and for how long (by log time; 0 = no age
  /// limit). A retried event within the window is acknowledged, not applied.
  std::size_t dedup_ids = 1000000;
  std::chrono::milliseconds dedup_age = std::chrono::hours(24);
  /// The write-ahead log every profile shard appends to before applying;
  /// null = in memory only (nothing survives a restart).
  std::shared_ptr<storage::wal> wal;
  /// State to start from (recovery); null = empty. Each shard takes its own
  /// part when it is spawned.
  std::shared_ptr<storage::recovered_state> recovered;
  /// Cluster mode: which profile and item shards this node hosts (by shard
  /// index). Empty = all of them (one process). The others start as null
  /// handles until the cluster manager's directory fills them in.
  std::vector<bool> local_profiles;
  std::vector<bool> local_items;
  /// Receives the recommenders' answers to `query_atom` messages; null = such
  /// messages are dropped with an error logged (only the embedded engine
  /// sends them, and it sets this).
  std::shared_ptr<query_sink> queries;
};

/// True when shard `s` is hosted here under `local` (empty = every shard).
inline bool is_local(const std::vector<bool>& local, std::uint32_t s) {
  return local.empty() || (s < local.size() && local[s]);
}

/// Dedup window size of one profile shard under `cfg`.
inline std::size_t dedup_ids_per_shard(const topology_config& cfg) {
  if (cfg.dedup_ids == 0)
    return 0;
  return std::max<std::size_t>(1, cfg.dedup_ids / std::max<std::uint32_t>(1, cfg.profile_shards));
}

struct topology {
  std::vector<ingestor_actor> ingestors;
  std::vector<profile_shard_actor> profiles;
  std::vector<item_shard_actor> items;
  std::vector<recommender_actor> recommenders;
  topology_config config;
};

/// Spawns the topology in `sys`: every ingestor and recommender, and the
/// shards cfg.local_* names (null handles for the others). Never fails
/// (spawning is local).
topology spawn_topology(caf::actor_system& sys, const topology_config& cfg);

/// Sends an exit message (user_shutdown) to every actor of `t`.
void stop_topology(topology& t);

}  // namespace rtrec
