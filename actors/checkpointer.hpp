// The checkpointer: writes a checkpoint of every shard's state and deletes
// what it makes unnecessary, on demand and every snapshot_interval on its
// own thread. One checkpoint at a time.
//
//   1. each profile shard, in turn: its state up to its last applied log seq
//      (a thread serializes it while the shard answers queries)
//   2. flush every profile shard: each delta of those batches reaches the
//      item side, so each item snapshot covers at least what the profile
//      snapshots cover
//   3. the item writer takes every item shard's snapshot between two item
//      metadata writes, with the metadata log seq they include
//   4. write the files (storage/snapshot.hpp), keep the newest
//      keep_checkpoints, release the log segments the oldest kept one covers
#pragma once

#include <caf/all.hpp>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "actors/cluster.hpp"
#include "messages/messages.hpp"
#include "rtrec/options.hpp"
#include "rtrec/stats.hpp"
#include "storage/recovery.hpp"
#include "storage/wal.hpp"

namespace rtrec {

class checkpointer {
 public:
  /// A cluster node's part in keeping the log (docs/replication.md,
  /// "Stage 1"): its manager, which passes this node's item coverage on to
  /// the peers and collects theirs in `shared`, and the item shards it hosts.
  struct cluster_link {
    caf::actor manager;
    std::shared_ptr<cluster_shared> shared;
    std::vector<bool> local_items;
  };

  /// Checkpoints `profiles` and, through `items`, the item shards, into
  /// opts.data_dir, numbering from `next_id`; `timeout` bounds each call to
  /// a shard. A null profile handle, and an item shard the writer does not
  /// host, is a shard of another cluster node: its part of the checkpoint
  /// is an empty shard (`data` says how to make one). In one process it
  /// deletes the log segments the oldest kept checkpoint covers; on a
  /// cluster node (`cluster`) only what every item shard of the cluster has
  /// in a kept checkpoint (storage/retention.hpp). Starts the periodic
  /// thread when opts.snapshot_interval > 0.
  checkpointer(caf::actor_system& sys, std::vector<profile_shard_actor> profiles,
               item_writer_actor items, std::uint32_t item_shards,
               std::shared_ptr<storage::wal> wal, durability_options opts,
               storage::recovery_options data, std::optional<cluster_link> cluster,
               std::uint64_t next_id, caf::timespan timeout);
  /// Stops the periodic thread (waits for a checkpoint in progress).
  ~checkpointer();

  checkpointer(const checkpointer&) = delete;
  checkpointer& operator=(const checkpointer&) = delete;

  /// Writes a checkpoint now. Errors: shard_unavailable when a shard does
  /// not answer or the files cannot be written (the previous checkpoint and
  /// the log stay in place; counted in checkpoint_failures).
  caf::expected<checkpoint_report> run();

  /// Stops the periodic thread; run() still works. Idempotent.
  void stop_timer();

  /// Counters so far (the durability_stats fields it owns).
  void fill(durability_stats& s) const;

 private:
  caf::expected<checkpoint_report> run_locked();
  void release(checkpoint_report& rep);
  void retain_for_cluster(checkpoint_report& rep);
  void loop();

  caf::actor_system& sys_;
  std::vector<profile_shard_actor> profiles_;
  item_writer_actor items_;
  std::uint32_t item_shards_;
  std::shared_ptr<storage::wal> wal_;
  durability_options opts_;
  storage::recovery_options data_;
  std::optional<cluster_link> cluster_;
  caf::timespan timeout_;
  std::mutex run_mtx_;  // one checkpoint at a time
  std::uint64_t next_id_;
  mutable std::mutex stats_mtx_;
  std::uint64_t checkpoints_ = 0;
  std::uint64_t failures_ = 0;
  std::uint64_t max_pause_ns_ = 0;
  std::uint64_t max_hold_ns_ = 0;
  checkpoint_report last_;
  std::mutex timer_mtx_;
  std::condition_variable timer_cv_;
  bool timer_stop_ = false;
  std::thread timer_;
};

}  // namespace rtrec
