// Which checkpoints and log segments a cluster node keeps (docs/replication.md,
// "Stage 1: durable nodes"): another node's item shard that restarts resumes
// from its own kept checkpoints and asks this node's profile shards to
// re-derive what came after, so this node keeps a checkpoint at or before
// what every item shard holds, and the log after it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace rtrec::storage {

/// Per item shard: the last delta seq per profile shard its node's oldest
/// kept checkpoint holds, then the last item metadata operation it holds.
using item_coverage_map = std::map<std::uint32_t, std::vector<std::uint64_t>>;

struct retention_plan {
  /// False while the coverage of some item shard is unknown: keep every
  /// checkpoint and the whole log.
  bool complete = false;
  /// The newest checkpoint at or before every item shard's coverage for
  /// this node's profile shards (0: none); kept besides the newest ones.
  std::uint64_t base = 0;
  /// What the log may release (the base's seqs; empty: nothing).
  std::map<std::uint32_t, std::uint64_t> covered;
};

/// The plan for the checkpoints under `root`, given the coverage of all
/// `item_shards` item shards and which profile shards this node hosts.
/// Throws std::runtime_error when a manifest cannot be read.
retention_plan plan_retention(const std::string& root, const std::vector<bool>& local_profiles,
                              const item_coverage_map& coverage, std::uint32_t item_shards);

/// The coverage this node reports for its item shards (`local_items`):
/// the applied seqs of its oldest kept checkpoint (a restarted node may fall
/// back to it). Empty when there is no checkpoint.
item_coverage_map kept_coverage(const std::string& root, const std::vector<bool>& local_items);

}  // namespace rtrec::storage
