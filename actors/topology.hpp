// Spawning and stopping the actor topology: I ingestors, S profile shards,
// M item shards and R recommenders, wired together. The same function serves
// the embedding API (actors/service.cpp), cluster nodes and the
// deterministic test harness.
//
// What a topology runs with comes in two parts: its settings
// (topology_config, rtrec/options.hpp: plain values) and its context
// (topology_context: the log, the recovered state, where ticketed answers
// go, the clock), so that a configuration stays a value to copy and compare.
#pragma once

#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "actors/tickets.hpp"
#include "messages/messages.hpp"
#include "rtrec/options.hpp"
#include "storage/recovery.hpp"
#include "storage/wal.hpp"

namespace rtrec {

/// Milliseconds since the Unix epoch (the time stamped on log records).
using wall_clock_fn = std::function<std::int64_t()>;

/// The system clock as a wall_clock_fn.
std::int64_t system_wall_ms();

/// What a topology runs with besides its settings. Every member may be left
/// empty.
struct topology_context {
  /// The write-ahead log every profile shard appends to before applying;
  /// null = in memory only (nothing survives a restart).
  std::shared_ptr<storage::wal> wal;
  /// State to start from (recovery); null = empty. Each shard takes its own
  /// part when it is spawned.
  std::shared_ptr<storage::recovered_state> recovered;
  /// Receives the answers to calls sent with a ticket (submit_atom,
  /// query_atom); null = such messages are dropped with an error logged
  /// (only the embedding API sends them, and it sets this).
  std::shared_ptr<reply_sink> sink;
  /// The time of day for log records; empty = the system clock.
  wall_clock_fn clock;
  /// The data directory's settings (data_dir empty: none): profile shards
  /// re-derive the delta batches an item shard missed from it.
  storage::recovery_options data;
  /// Where a replicated profile shard's durability notices go (called on
  /// the log's writer thread with the shard, the write number and the
  /// error); empty = sent to the shard at once (replica_atom). Tests queue
  /// them and deliver them when they choose, so a seeded run is the same
  /// run every time.
  std::function<void(const profile_shard_actor&, std::uint64_t, const std::string&)>
    replica_notices;
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
topology spawn_topology(caf::actor_system& sys, const topology_config& cfg,
                        const topology_context& ctx = {});

/// Sends an exit message (user_shutdown) to every actor of `t`.
void stop_topology(topology& t);

}  // namespace rtrec
