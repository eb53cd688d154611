// Counters rtrec reports: per actor (they travel between actors and nodes;
// messages/messages.hpp gives each its inspect()), and the service-wide
// figures the embedding API returns. Plain structs, no CAF.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/model_types.hpp"
#include "storage/types.hpp"

namespace rtrec {

/// Counters of one ingestor. rejected_by_reason is indexed by
/// engine::reject_reason (invalid events), failed_by_reason by
/// delivery_failure (valid events that were not applied).
struct ingest_stats {
  std::uint64_t requests = 0;
  std::uint64_t received = 0;
  std::uint64_t accepted = 0;
  std::vector<std::uint64_t> rejected_by_reason;
  std::vector<std::uint64_t> failed_by_reason;
};

/// Counters of one profile shard.
struct shard_stats {
  std::uint32_t shard = 0;
  std::uint64_t users = 0;
  std::uint64_t events_applied = 0;
  std::uint64_t rejected = 0;
  std::uint64_t memory_bytes = 0;
  std::uint64_t deltas_in_flight = 0;
  std::uint64_t acks_deferred = 0;
  std::uint64_t delta_failures = 0;  ///< delta batches an item shard failed to apply
  std::uint64_t duplicates = 0;      ///< events acknowledged again, not re-applied
  std::uint64_t log_pending = 0;     ///< records waiting for the log
  std::uint64_t dedup_ids = 0;       ///< ids in the dedup window
};

/// Counters of one item shard: its model's own (model), plus the actor's.
/// lag_* is the time from a delta batch's creation at a profile shard to
/// its application here (nanoseconds).
struct item_shard_stats {
  std::uint32_t shard = 0;
  std::uint64_t batches = 0;
  engine::item_model_stats model;
  std::uint64_t lag_p50_ns = 0;
  std::uint64_t lag_p99_ns = 0;
  std::uint64_t lag_max_ns = 0;
  /// Names looked up for recommenders (name_lookup requests answered).
  std::uint64_t name_lookups = 0;
  /// Delta streams (docs/replication.md, "Stage 1"): batches skipped as
  /// already applied, batches dropped at a gap, resyncs applied and failed.
  std::uint64_t duplicates = 0;
  std::uint64_t gaps = 0;
  std::uint64_t resyncs = 0;
  std::uint64_t resync_failures = 0;
  /// User neighbors (engine/recent_users.hpp): users listed over the items
  /// this shard owns, and users that left a full list for a more recent one.
  std::uint64_t item_user_entries = 0;
  std::uint64_t item_user_evictions = 0;
  /// The item metadata stream (docs/replication.md, "Stage 1b"): the last
  /// operation of the meta writer's log applied here (0 without a log).
  std::uint64_t meta_applied = 0;
};

/// Counters of the scheduler's query lane since start (all zero under
/// another scheduler policy).
struct query_lane_stats {
  std::uint64_t urgent_turns = 0;  ///< jobs taken from the urgent queue
  std::uint64_t normal_turns = 0;  ///< jobs taken from the normal queue
  std::uint64_t promotions = 0;    ///< queued jobs moved to the urgent queue
  std::uint64_t starvation_breaks = 0;  ///< normal jobs taken ahead of waiting urgent ones
};

/// Counters gathered from every actor of a service.
struct service_stats {
  std::vector<ingest_stats> ingestors;
  std::vector<shard_stats> profile_shards;
  std::vector<item_shard_stats> item_shards;
  std::uint64_t users = 0;
  std::uint64_t items = 0;
  std::uint64_t events_applied = 0;
  std::uint64_t profile_bytes = 0;
  std::uint64_t item_bytes = 0;
  std::uint64_t item_lag_p99_ns = 0;  ///< max over item shards
  /// Cluster mode: queries answered without the item shards of an
  /// unreachable node (their items were missing from the answer).
  std::uint64_t partial_answers = 0;
  /// Cluster mode: the shards above are those reachable now.
  std::uint32_t unreachable_shards = 0;
  /// The scheduler's query lane (all zero under another scheduler policy).
  query_lane_stats scheduler;
  /// CAF worker threads running the actors.
  std::size_t worker_threads = 0;
};

/// Outcome of one checkpoint.
struct checkpoint_report {
  std::uint64_t id = 0;
  std::uint64_t bytes = 0;
  std::uint64_t profile_bytes = 0;
  std::uint64_t item_bytes = 0;
  double total_ms = 0;
  /// Longest time one shard answered nothing for the checkpoint (it hands
  /// its state to a serializer thread and goes on answering queries).
  std::uint64_t max_pause_ns = 0;
  /// Longest time one shard held back writes (acknowledgements wait) while
  /// its state was serialized.
  std::uint64_t max_hold_ns = 0;
  std::size_t segments_deleted = 0;
  std::uint64_t users = 0;
  std::uint64_t items = 0;
};

/// Counters of the durability layer.
struct durability_stats {
  bool enabled = false;
  storage::wal_stats wal;
  std::uint64_t checkpoints = 0;
  std::uint64_t checkpoint_failures = 0;
  checkpoint_report last_checkpoint;
  std::uint64_t max_pause_ns = 0;  ///< over every checkpoint so far
  std::uint64_t max_hold_ns = 0;   ///< over every checkpoint so far
  storage::recovery_report recovery;
};

}  // namespace rtrec
