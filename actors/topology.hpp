// Spawning and stopping the actor topology: I ingestors, S profile shards,
// M item shards and R recommenders, wired together. The same function serves
// the embedded engine, the deterministic test harness and (later) nodes.
#pragma once

#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
#include <vector>

#include "engine/config.hpp"
#include "messages/messages.hpp"

namespace rtrec {

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
};

struct topology {
  std::vector<ingestor_actor> ingestors;
  std::vector<profile_shard_actor> profiles;
  std::vector<item_shard_actor> items;
  std::vector<recommender_actor> recommenders;
  topology_config config;
};

/// Spawns the whole topology in `sys`. Never fails (spawning is local).
topology spawn_topology(caf::actor_system& sys, const topology_config& cfg);

/// Sends an exit message (user_shutdown) to every actor of `t`.
void stop_topology(topology& t);

}  // namespace rtrec
